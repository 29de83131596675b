// Package ledger is the append-only record of everything that happened in a
// run: every code minted and exchanged by mockwechat, every login, refresh and
// protected call the backend saw (with the token it carried), and every logical
// request a client issued and how it settled. The invariant checker reads it.
//
// Runs can produce millions of events, so the ledger keeps only a small tail in
// memory and spills the rest to a temporary NDJSON file; Scan streams it back.
package ledger

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/tokenstorm/tokenstorm/harness/clock"
)

// Options configure a Ledger.
type Options struct {
	Clock clock.Clock // stamps events that carry no time; default real time
	// Memory keeps every event in memory instead of a spill file: for tests and
	// small runs.
	Memory bool
	Dir    string // where the spill file goes; default os.TempDir()
	Tail   int    // how many recent events Tail returns; default 1024
}

// Ledger is safe for concurrent use.
type Ledger struct {
	mu    sync.Mutex
	clock clock.Clock
	opts  Options
	spill bool // asked to spill at New (opts.Memory may turn true later)
	seq   uint64
	mem   []Event
	file  *os.File
	w     *spillWriter
	pend  []byte       // encoded events not yet handed to w
	subs  []subscriber // in the order they subscribed; replaced, never modified in place
	subID int
	tail  []Event
	tailN int
	err   error

	secrets secretSet // live secrets the admin API hides (NoteSecret)
}

// spillChunk is how much encoded ledger is handed to the spill writer at once.
const spillChunk = 256 << 10

// New returns an empty ledger.
func New(opts Options) *Ledger {
	if opts.Clock == nil {
		opts.Clock = clock.Real()
	}
	if opts.Tail <= 0 {
		opts.Tail = 1024
	}
	l := &Ledger{clock: opts.Clock, opts: opts, spill: !opts.Memory}
	l.init()
	return l
}

func (l *Ledger) init() {
	if l.opts.Memory {
		return
	}
	f, err := os.CreateTemp(l.opts.Dir, "tokenstorm-ledger-*.ndjson")
	if err != nil {
		// Fall back to memory rather than lose events.
		l.opts.Memory = true
		l.err = fmt.Errorf("ledger spill file: %w (keeping events in memory)", err)
		return
	}
	// Unlink at once: the file lives as long as the handle and never litters /tmp.
	_ = os.Remove(f.Name())
	l.file = f
	l.w = newSpillWriter(f)
	l.pend = make([]byte, 0, spillChunk+4096)
}

// bodies holds scratch buffers for encoding an event outside the lock.
var bodies = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Append stamps e with the next sequence number (and the time, if unset),
// records it, hands it to subscribers and returns it.
//
// Under load every simulated request appends several events from its own
// goroutine, so the lock is held only for what must happen in sequence
// order: the members other than seq and time are encoded before taking it,
// and the spill file is written by a goroutine of its own.
func (l *Ledger) Append(e Event) Event {
	if l == nil {
		return e
	}
	var body *[]byte
	if l.spill {
		body = bodies.Get().(*[]byte)
		*body = appendRest((*body)[:0], &e)
	}
	l.mu.Lock()
	l.seq++
	e.Seq = l.seq
	if e.Time.IsZero() {
		e.Time = l.clock.Now()
	}
	switch {
	case l.opts.Memory:
		l.mem = append(l.mem, e)
	case body != nil:
		l.pend = append(appendHead(l.pend, e.Seq, e.Time), *body...)
	default:
		l.pend = appendJSON(l.pend, &e)
	}
	if len(l.pend) >= spillChunk {
		l.pend = l.w.write(l.pend)
	}
	if len(l.tail) < l.opts.Tail {
		l.tail = append(l.tail, e)
	} else {
		l.tail[l.tailN] = e
		l.tailN = (l.tailN + 1) % l.opts.Tail
	}
	for _, s := range l.subs {
		s.fn(e)
	}
	l.mu.Unlock()
	if body != nil && cap(*body) <= 64<<10 {
		bodies.Put(body)
	}
	return e
}

// Recorder appends the events of one component: it marks them with the
// component's Source and stamps those that carry no time with its Clock,
// which may differ from the ledger's (skewed, manual) and must, so that its
// events line up with the token times it hands out. With no Ledger it
// records nothing.
type Recorder struct {
	Ledger *Ledger
	Source string      // one of the Source constants
	Clock  clock.Clock // nil: the ledger's own
}

// Append records e as the component's and returns it as recorded.
func (r Recorder) Append(e Event) Event {
	if r.Ledger == nil {
		return e
	}
	e.Source = r.Source
	if e.Time.IsZero() && r.Clock != nil {
		e.Time = r.Clock.Now()
	}
	return r.Ledger.Append(e)
}

type subscriber struct {
	id int
	fn func(Event)
}

// Subscribe calls fn with every event appended from now on, in sequence order,
// while the ledger's lock is held: fn must be quick and must not Append.
// The returned func unsubscribes.
func (l *Ledger) Subscribe(fn func(Event)) (cancel func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.subID++
	id := l.subID
	l.subs = append(l.subs[:len(l.subs):len(l.subs)], subscriber{id, fn})
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		subs := make([]subscriber, 0, len(l.subs))
		for _, s := range l.subs {
			if s.id != id {
				subs = append(subs, s)
			}
		}
		l.subs = subs
	}
}

// Len is the number of events appended since the last Reset.
func (l *Ledger) Len() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// Err reports a storage problem, if any happened.
func (l *Ledger) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil && l.w != nil {
		return l.w.failure()
	}
	return l.err
}

// Tail returns up to the last Options.Tail events, oldest first.
func (l *Ledger) Tail() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]Event, 0, len(l.tail))
	out = append(out, l.tail[l.tailN:]...)
	out = append(out, l.tail[:l.tailN]...)
	return out
}

// Scan calls fn for every event in sequence order, streaming from the spill
// file, until fn returns an error (which Scan returns). Events appended while
// Scan runs may or may not be seen.
func (l *Ledger) Scan(fn func(Event) error) error {
	l.mu.Lock()
	if l.opts.Memory {
		evs := l.mem[:len(l.mem):len(l.mem)]
		l.mu.Unlock()
		for _, e := range evs {
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	if err := l.flushLocked(); err != nil {
		l.mu.Unlock()
		return fmt.Errorf("ledger flush: %w", err)
	}
	st, err := l.file.Stat()
	if err != nil {
		l.mu.Unlock()
		return err
	}
	size := st.Size()
	f := l.file
	l.mu.Unlock()

	dec := json.NewDecoder(bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 256<<10))
	for {
		var e Event
		if err := dec.Decode(&e); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("ledger read: %w", err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}

// Events returns every event in memory: only for tests and small ledgers.
func (l *Ledger) Events() []Event {
	var out []Event
	_ = l.Scan(func(e Event) error { out = append(out, e); return nil })
	return out
}

// WriteNDJSON streams the ledger as one JSON object per line.
func (l *Ledger) WriteNDJSON(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	if err := l.Scan(func(e Event) error { return enc.Encode(&e) }); err != nil {
		return err
	}
	return bw.Flush()
}

// flushLocked has everything appended so far written to the spill file.
func (l *Ledger) flushLocked() error {
	l.pend = l.w.write(l.pend)
	return l.w.flush()
}

// closeFileLocked stops the spill writer and closes the file.
func (l *Ledger) closeFileLocked() error {
	if l.file == nil {
		return nil
	}
	l.pend = l.w.write(l.pend)
	werr := l.w.stop()
	err := l.file.Close()
	l.file, l.w, l.pend = nil, nil, nil
	if werr != nil {
		return werr
	}
	return err
}

// Reset forgets every event (subscribers stay).
func (l *Ledger) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq = 0
	l.mem = nil
	l.tail = nil
	l.tailN = 0
	_ = l.closeFileLocked()
	l.init()
}

// Close releases the spill file.
func (l *Ledger) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.file == nil {
		return nil
	}
	err := l.closeFileLocked()
	l.opts.Memory = true // later Appends go to memory rather than fail
	return err
}

// ReadNDJSON streams events from an NDJSON reader (a saved ledger).
func ReadNDJSON(r io.Reader, fn func(Event) error) error {
	dec := json.NewDecoder(bufio.NewReader(r))
	for line := 1; ; line++ {
		var e Event
		if err := dec.Decode(&e); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("ledger event %d: %w", line, err)
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
