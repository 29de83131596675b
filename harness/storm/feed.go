package storm

import (
	"sync"

	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// feed hands ledger events to the checkers on a goroutine of their own.
// Ledger subscribers run under the ledger's lock, which every part of the
// stack (backend, mock WeChat, device driver) takes on every event; judging
// each event there would serialise the whole storm behind the checker. The
// subscriber only queues the event; order is kept (one queue, one reader) and
// memory stays bounded (a full queue makes Append wait: back-pressure, not
// growth).
type feed struct {
	ch     chan ledger.Event
	unsub  func()
	done   chan struct{}
	once   sync.Once
	observ []func(ledger.Event)
}

const feedQueue = 4 << 10

func newFeed(l *ledger.Ledger, observers ...func(ledger.Event)) *feed {
	f := &feed{ch: make(chan ledger.Event, feedQueue), done: make(chan struct{}), observ: observers}
	go func() {
		defer close(f.done)
		for e := range f.ch {
			for _, o := range f.observ {
				o(e)
			}
		}
	}()
	f.unsub = l.Subscribe(func(e ledger.Event) { f.ch <- e })
	return f
}

// stop unsubscribes and returns once every queued event has been observed.
func (f *feed) stop() {
	f.once.Do(func() {
		f.unsub() // takes the ledger lock: no Append is delivering any more
		close(f.ch)
		<-f.done
	})
}
