package execclient

import (
	"io"
	"sync"
	"unicode/utf8"
)

// maxStderrLine caps one kept stderr line: a minified stack trace or a dumped
// body must not turn an error message into megabytes.
const maxStderrLine = 512

// tailBuffer keeps the last n lines written to it (a ring buffer) and copies
// everything to an optional writer (a user who wants the full stream).
type tailBuffer struct {
	mu      sync.Mutex
	lines   []string
	next    int // where the next line goes once the ring is full
	full    bool
	partial []byte // the current line, not yet ended by '\n'
	copyTo  io.Writer
}

func newTailBuffer(n int, copyTo io.Writer) *tailBuffer {
	return &tailBuffer{lines: make([]string, n), copyTo: copyTo}
}

// Write never fails: losing the copy must not stop the capture.
func (t *tailBuffer) Write(p []byte) (int, error) {
	if t.copyTo != nil {
		_, _ = t.copyTo.Write(p)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, b := range p {
		if b == '\n' {
			t.push()
			continue
		}
		if len(t.partial) < maxStderrLine+utf8.UTFMax {
			t.partial = append(t.partial, b)
		}
	}
	return len(p), nil
}

func (t *tailBuffer) push() {
	line := t.partial
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	s := truncate(line, maxStderrLine)
	t.partial = t.partial[:0]
	if len(t.lines) == 0 {
		return
	}
	t.lines[t.next] = s
	t.next = (t.next + 1) % len(t.lines)
	if t.next == 0 {
		t.full = true
	}
}

// Lines returns the kept lines, oldest first, including an unterminated last
// line (a crash often ends mid-line).
func (t *tailBuffer) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	if t.full {
		out = append(out, t.lines[t.next:]...)
	}
	out = append(out, t.lines[:t.next]...)
	if len(t.partial) > 0 {
		out = append(out, truncate(t.partial, maxStderrLine))
		if len(out) > len(t.lines) {
			out = out[1:]
		}
	}
	return out
}
