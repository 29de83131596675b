package execclient

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
)

// readLoop reads the process's stdout line by line until EOF.
func (c *Client) readLoop() {
	defer close(c.stdoutDone)
	r := bufio.NewReaderSize(c.stdout, 64<<10)
	for lineNo := 1; ; lineNo++ {
		line, tooLong, err := readLine(r, c.opts.MaxLineBytes)
		switch {
		case tooLong:
			c.violation(&ProtocolError{Line: lineNo, Kind: ledger.ProtocolOversized, Msg: fmt.Sprintf("line longer than %d bytes (ignored)", c.opts.MaxLineBytes)})
		case len(bytes.TrimSpace(line)) > 0: // blank lines are harmless
			c.handleLine(lineNo, bytes.TrimSpace(line))
		}
		if err != nil {
			return
		}
	}
}

// readLine returns the next line without its terminator. A line longer than
// limit is consumed and reported as tooLong without being kept in memory.
func readLine(r *bufio.Reader, limit int) (line []byte, tooLong bool, err error) {
	for {
		frag, err := r.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(frag) > limit+1 { // +1: the '\n'
				tooLong, line = true, nil
			} else {
				line = append(line, frag...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), tooLong, err
	}
}

func (c *Client) handleLine(lineNo int, line []byte) {
	if line[0] != '{' || !json.Valid(line) {
		c.violation(&ProtocolError{Line: lineNo, Kind: ledger.ProtocolGarbage, Msg: fmt.Sprintf("not a JSON object: %q (ignored; write logs to stderr)", truncate(line, 120))})
		return
	}
	var m inMsg
	typeErr := json.Unmarshal(line, &m) // a type mismatch still fills the other fields
	switch m.Type {
	case typeHello:
		c.onHello(lineNo, &m)
	case typeLog:
		c.logEvent(m.Device, "", m.Message)
	case "", typeAnswer:
		c.onAnswer(lineNo, line, &m, typeErr)
	default:
		c.violation(&ProtocolError{Line: lineNo, Msg: fmt.Sprintf("unknown message type %q (ignored)", m.Type)})
	}
}

// helloVerdict hands the handshake's outcome to New, once.
func (c *Client) helloVerdict(failure string) {
	c.helloCh <- failure // buffered 1, and only called while !helloSent
}

func (c *Client) onHello(lineNo int, m *inMsg) {
	c.mu.Lock()
	already := c.helloSent
	c.helloSent = true
	supported := m.Protocol >= MinProtocolVersion && m.Protocol <= ProtocolVersion
	v2 := ""
	if supported && m.Protocol < styleV2Protocol {
		v2 = c.spec.NeedsV2()
	}
	if !already && supported && v2 == "" {
		c.helloOK = true
		c.name = m.Name
		c.protocol = m.Protocol
	}
	c.mu.Unlock()
	switch {
	case already:
		c.violation(&ProtocolError{Line: lineNo, Msg: "second hello (ignored)"})
	case !supported:
		got := fmt.Sprintf("protocol %d", m.Protocol)
		if m.Protocol == 0 {
			got = "no \"protocol\" number"
		}
		c.helloVerdict(fmt.Sprintf("answered hello with %s; this harness speaks protocols %d to %d", got, MinProtocolVersion, ProtocolVersion))
	case v2 != "":
		c.helloVerdict(fmt.Sprintf("answered hello with protocol %d, but style %s uses %s, which only a protocol %d client can read from style_spec", m.Protocol, c.spec.Name, v2, styleV2Protocol))
	default:
		c.helloVerdict("")
	}
}

func (c *Client) onAnswer(lineNo int, line []byte, m *inMsg, typeErr error) {
	c.mu.Lock()
	if !c.helloSent {
		// An answer before the hello means the process does not speak this
		// protocol at all (or skipped the handshake): fail fast and clearly.
		c.helloSent = true
		c.mu.Unlock()
		c.helloVerdict(fmt.Sprintf("wrote %s on stdout line %d before answering hello", truncate(line, 120), lineNo))
		return
	}
	c.mu.Unlock()

	id, err := decodeID(m.ID)
	if err != nil {
		c.violation(&ProtocolError{Line: lineNo, Kind: ledger.ProtocolMalformed, Msg: err.Error() + " (ignored)"})
		return
	}
	c.mu.Lock()
	p, pending := c.pending[id]
	if pending {
		delete(c.pending, id)
		c.recent.add(id, p.device)
	}
	lateDev, late := "", false
	if !pending {
		if lateDev, late = c.abandoned.get(id); late {
			c.abandoned.remove(id)
			c.recent.add(id, lateDev)
		}
	}
	dupDev, dup := "", false
	if !pending && !late {
		dupDev, dup = c.recent.get(id)
	}
	c.mu.Unlock()

	switch {
	case pending:
		res, perr := decodeAnswer(m, typeErr)
		if perr != nil {
			pe := &ProtocolError{Line: lineNo, ID: id, Device: p.device, Kind: ledger.ProtocolMalformed,
				Msg: fmt.Sprintf("malformed answer for id %q: %v (the call fails with this error)", id, perr)}
			c.violation(pe)
			res = client.Result{Err: pe}
		}
		p.ch <- res
	case late:
		// Not a violation: the harness gave up first; the ledger shows when
		// the answer finally came.
		c.logEvent(lateDev, id, fmt.Sprintf("exec client answered id %q after its deadline (ignored)", id))
	case dup:
		c.violation(&ProtocolError{Line: lineNo, ID: id, Device: dupDev, Kind: ledger.ProtocolDuplicate, Msg: fmt.Sprintf("second answer for id %q (ignored)", id)})
	default:
		c.violation(&ProtocolError{Line: lineNo, ID: id, Kind: ledger.ProtocolUnknownID, Msg: fmt.Sprintf("answer for unknown id %q (ignored)", id)})
	}
}
