package ledger

import (
	"fmt"
	"io"
	"sync"
)

// spillWriter writes chunks of encoded events to the spill file on a
// goroutine of its own, in the order they were handed over, so that no
// appender waits for the disk while holding the ledger's lock. At most two
// chunks wait for it; more make the appender wait (back-pressure, as a
// synchronous write would).
type spillWriter struct {
	jobs chan spillJob
	free chan []byte // written chunks, for reuse
	done chan struct{}

	mu  sync.Mutex
	err error
}

type spillJob struct {
	chunk   []byte
	flushed chan struct{} // closed once every chunk before it is written
}

func newSpillWriter(w io.Writer) *spillWriter {
	s := &spillWriter{jobs: make(chan spillJob, 2), free: make(chan []byte, 3), done: make(chan struct{})}
	go s.run(w)
	return s
}

func (s *spillWriter) run(w io.Writer) {
	defer close(s.done)
	for j := range s.jobs {
		if len(j.chunk) > 0 {
			if _, err := w.Write(j.chunk); err != nil {
				s.mu.Lock()
				if s.err == nil {
					s.err = fmt.Errorf("ledger spill file: %w", err)
				}
				s.mu.Unlock()
			}
			select {
			case s.free <- j.chunk[:0]:
			default:
			}
		}
		if j.flushed != nil {
			close(j.flushed)
		}
	}
}

// write hands chunk over and returns an empty buffer to fill next.
func (s *spillWriter) write(chunk []byte) []byte {
	if len(chunk) == 0 {
		return chunk
	}
	s.jobs <- spillJob{chunk: chunk}
	select {
	case b := <-s.free:
		return b
	default:
		return make([]byte, 0, cap(chunk))
	}
}

// flush waits until every chunk handed over is written.
func (s *spillWriter) flush() error {
	j := spillJob{flushed: make(chan struct{})}
	s.jobs <- j
	<-j.flushed
	return s.failure()
}

// stop writes what was handed over and ends the goroutine.
func (s *spillWriter) stop() error {
	close(s.jobs)
	<-s.done
	return s.failure()
}

func (s *spillWriter) failure() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
