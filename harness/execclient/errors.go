package execclient

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrClosed is what calls get after Close.
var ErrClosed = errors.New("exec client closed")

// ExitError reports that the client process is gone before Close: it exited
// (whatever its status), was killed by a signal, or closed its stdout. It is
// fatal: every pending and future call fails with it.
type ExitError struct {
	Cmd         string   // the command as given to exec:
	Reason      string   // "exited with status 1", "was terminated (signal: killed)", "closed its stdout"
	Calls       int64    // calls sent to it before it went away
	BeforeHello bool     // it went away during the handshake
	Stderr      []string // the last lines of its stderr, oldest first
}

func (e *ExitError) Error() string {
	when := fmt.Sprintf("after %d %s", e.Calls, plural(e.Calls, "call", "calls"))
	if e.BeforeHello {
		when = "before answering hello"
	}
	return fmt.Sprintf("exec client %q %s %s%s", e.Cmd, e.Reason, when, stderrTail(e.Stderr))
}

// HelloError reports a failed handshake: no hello in time, a hello of another
// protocol version, or another message before the hello. New returns it after
// killing the process.
type HelloError struct {
	Cmd    string
	Msg    string   // what went wrong
	Stderr []string // the last lines of its stderr
}

func (e *HelloError) Error() string {
	return fmt.Sprintf("exec client %q %s%s", e.Cmd, e.Msg, stderrTail(e.Stderr))
}

func helloTimeout(d time.Duration, protocol int) string {
	return fmt.Sprintf("did not answer hello within %s (it must write {\"type\":\"hello\",\"protocol\":%d,\"name\":\"…\"} on stdout after reading the harness's hello on stdin)", d, protocol)
}

// ProtocolError is a protocol violation that is not fatal: the line is
// ignored (or, for a malformed answer to a pending call, that call fails with
// this error) and the client keeps running. All of them are kept by Errors()
// and logged to the ledger.
type ProtocolError struct {
	Line   int    // stdout line number, counting from 1
	ID     string // the call id concerned, if known
	Device string // the device of that call, if known
	Kind   string // ledger.ProtocolGarbage, ...; "" = ledger.ProtocolOther
	Msg    string
}

func (e *ProtocolError) Error() string {
	return fmt.Sprintf("exec client protocol error on stdout line %d: %s", e.Line, e.Msg)
}

// AnswerError is an {"id","error"} answer: the client surfaced an error to its
// caller instead of an HTTP answer.
type AnswerError struct {
	Message string
}

func (e *AnswerError) Error() string { return "exec client answered error: " + e.Message }

// stderrTail formats the stderr lines for an error message: the process's own
// words are usually the fastest route to the cause.
func stderrTail(lines []string) string {
	if len(lines) == 0 {
		return "; its stderr was empty"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "; last %d %s of its stderr:", len(lines), plural(int64(len(lines)), "line", "lines"))
	for _, l := range lines {
		b.WriteString("\n    ")
		b.WriteString(l)
	}
	return b.String()
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
