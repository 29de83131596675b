package storm

import (
	"sync"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// feed hands every ledger event to the checkers and counters as it is
// appended, in sequence order, so that nothing per request is kept.
//
// Delivery is synchronous, under the ledger's lock. Queueing events to a
// checker goroutine instead was measured to collapse a 10,000-device storm
// on two cores: once the queue filled, every Append waited for the checker
// goroutine to be scheduled among thousands of runnable ones, refreshes
// slowed to a trickle and requests were lost. Judging in the appender keeps
// the cost where the event is made.
type feed struct {
	unsub func()
	once  sync.Once
}

func newFeed(l *ledger.Ledger, observers ...func(ledger.Event)) *feed {
	return &feed{unsub: l.Subscribe(func(e ledger.Event) {
		for _, o := range observers {
			o(e)
		}
	})}
}

// stop unsubscribes; when it returns no observer is running or will run.
func (f *feed) stop() { f.once.Do(f.unsub) }
