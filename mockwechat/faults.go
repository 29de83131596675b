package mockwechat

import (
	"encoding/json"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Limits on fault timings: long enough for any test, short enough that a typo
// ("300m" for "300ms") cannot park requests for hours.
const (
	maxFaultDelay  = 10 * time.Minute
	defaultHangFor = 30 * time.Second
)

// Fault is a fault-injection rule (POST /__admin/faults). A rule matches
// requests to API ("*" = every API) whose user is in Users (empty = anyone; a
// request with no known user does not match a Users rule). A matching rule
// fires with Probability, at most Count times (0 = unlimited).
//
// When it fires it first adds its latency (Latency plus a uniform draw in
// [LatencyMin, LatencyMax]), then does at most one of: answer Errcode (HTTP
// 200, WeChat body), answer HTTP Status, Reset the TCP connection, or Hang
// until the client goes away, Server.Close, or HangFor (default 30s; then 504).
// A rule with only latency lets the request through afterwards, and the next
// matching rule is considered; the first rule with an action ends the request.
type Fault struct {
	ID          string        // assigned by AddFault ("f1", "f2", …)
	API         string        // jscode2session, cgi-bin/token, stable_token, checksession, wx.login or *
	Errcode     int           // WeChat errcode to answer, e.g. -1; 0 = none
	Status      int           // HTTP status to answer instead (200-599); 0 = none
	Probability float64       // in [0,1]; 0 means 1 (always): a rule that never fires is useless
	Count       int           // times it may fire; 0 = unlimited
	Latency     time.Duration // fixed added latency
	LatencyMin  time.Duration // with LatencyMax: uniform random extra latency
	LatencyMax  time.Duration
	Reset       bool          // reset the connection (RST via SO_LINGER 0)
	Hang        bool          // hold the request
	HangFor     time.Duration // cap of a hang; 0 = 30s
	Users       []string      // only these users; empty = all
	Fired       int           // read-only: times fired so far
}

// faultInput is what POST /__admin/faults accepts: durations as Go duration
// strings ("200ms"). Unknown fields are rejected by the admin endpoint.
type faultInput struct {
	API         string   `json:"api"`
	Errcode     int      `json:"errcode,omitempty"`
	Status      int      `json:"status,omitempty"`
	Probability *float64 `json:"probability,omitempty"`
	Count       int      `json:"count,omitempty"`
	Latency     string   `json:"latency,omitempty"`
	LatencyMin  string   `json:"latency_min,omitempty"`
	LatencyMax  string   `json:"latency_max,omitempty"`
	Reset       bool     `json:"reset,omitempty"`
	Hang        bool     `json:"hang,omitempty"`
	HangFor     string   `json:"hang_for,omitempty"`
	Users       []string `json:"users,omitempty"`
}

// faultJSON is the listed form: the input plus the read-only fields.
type faultJSON struct {
	ID string `json:"id,omitempty"`
	faultInput
	Fired     *int `json:"fired,omitempty"`
	Exhausted bool `json:"exhausted,omitempty"`
}

func durString(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

// MarshalJSON writes the admin JSON form.
func (f Fault) MarshalJSON() ([]byte, error) {
	p := f.Probability
	if p == 0 {
		p = 1
	}
	fired := f.Fired
	return json.Marshal(faultJSON{
		ID: f.ID,
		faultInput: faultInput{
			API: f.API, Errcode: f.Errcode, Status: f.Status, Probability: &p,
			Count: f.Count, Latency: durString(f.Latency), LatencyMin: durString(f.LatencyMin),
			LatencyMax: durString(f.LatencyMax), Reset: f.Reset, Hang: f.Hang,
			HangFor: durString(f.HangFor), Users: f.Users,
		},
		Fired:     &fired,
		Exhausted: f.Count > 0 && f.Fired >= f.Count,
	})
}

// UnmarshalJSON reads the admin JSON form (leniently: read-only fields are
// accepted, so a listed rule decodes back). The admin endpoint is stricter.
func (f *Fault) UnmarshalJSON(b []byte) error {
	var w faultJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	out, err := w.faultInput.fault()
	if err != nil {
		return err
	}
	out.ID = w.ID
	if w.Fired != nil {
		out.Fired = *w.Fired
	}
	*f = out
	return nil
}

// fieldError names the JSON field a problem is in.
type fieldError struct{ field, msg string }

func (e *fieldError) Error() string { return e.field + ": " + e.msg }

func parseDur(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &fieldError{field, fmt.Sprintf("invalid duration %q (want e.g. \"200ms\", \"1.5s\")", clip(s, 40))}
	}
	return d, nil
}

func (w faultInput) fault() (Fault, error) {
	f := Fault{API: w.API, Errcode: w.Errcode, Status: w.Status, Count: w.Count,
		Reset: w.Reset, Hang: w.Hang, Users: w.Users, Probability: 1}
	if w.Probability != nil {
		f.Probability = *w.Probability
	}
	var err error
	for _, d := range []struct {
		field string
		src   string
		dst   *time.Duration
	}{
		{"latency", w.Latency, &f.Latency},
		{"latency_min", w.LatencyMin, &f.LatencyMin},
		{"latency_max", w.LatencyMax, &f.LatencyMax},
		{"hang_for", w.HangFor, &f.HangFor},
	} {
		if *d.dst, err = parseDur(d.field, d.src); err != nil {
			return Fault{}, err
		}
	}
	return f, nil
}

var faultAPIs = []string{"*", APIJSCode2Session, APIToken, APIStableToken, APICheckSession, APIWxLogin}

// Validate reports the first problem with f, naming the JSON field.
func (f *Fault) Validate() error {
	bad := func(field, format string, a ...any) error { return &fieldError{field, fmt.Sprintf(format, a...)} }
	if !slices.Contains(faultAPIs, f.API) {
		return bad("api", "must be one of %q, got %q", faultAPIs, clip(f.API, 40))
	}
	if f.Status != 0 && (f.Status < 200 || f.Status > 599) {
		return bad("status", "must be an HTTP status 200-599, got %d", f.Status)
	}
	if !(f.Probability >= 0 && f.Probability <= 1) { // also catches NaN
		return bad("probability", "must be in [0,1], got %v", f.Probability)
	}
	if f.Count < 0 {
		return bad("count", "must be >= 0 (0 = unlimited), got %d", f.Count)
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"latency", f.Latency}, {"latency_min", f.LatencyMin}, {"latency_max", f.LatencyMax}, {"hang_for", f.HangFor}} {
		if d.v < 0 || d.v > maxFaultDelay {
			return bad(d.field, "must be between 0 and %s, got %s", maxFaultDelay, d.v)
		}
	}
	if f.LatencyMin > 0 && f.LatencyMax == 0 {
		return bad("latency_max", "required with latency_min")
	}
	if f.LatencyMax < f.LatencyMin {
		return bad("latency_max", "must be >= latency_min (%s), got %s", f.LatencyMin, f.LatencyMax)
	}
	if f.HangFor != 0 && !f.Hang {
		return bad("hang_for", "only valid with \"hang\": true")
	}
	actions := 0
	for _, on := range []bool{f.Errcode != 0, f.Status != 0, f.Reset, f.Hang} {
		if on {
			actions++
		}
	}
	if actions > 1 {
		return bad("errcode", "errcode, status, reset and hang are exclusive; set one")
	}
	if actions == 0 && f.Latency == 0 && f.LatencyMax == 0 {
		return bad("api", "rule has no effect: set errcode, status, reset, hang or a latency")
	}
	for i, u := range f.Users {
		if u == "" {
			return bad(fmt.Sprintf("users[%d]", i), "empty user")
		}
	}
	return nil
}

// faultSet holds the rules. n lets the hot path skip the lock when there are
// none, which is the common case in load runs.
type faultSet struct {
	mu     sync.Mutex
	rules  []*Fault
	nextID int
	rng    *mrand.Rand
	n      atomic.Int32
}

func newFaultSet(seed int64) *faultSet {
	s1, s2 := uint64(seed), uint64(seed)^0x9e3779b97f4a7c15
	if seed == 0 {
		s1, s2 = mrand.Uint64(), mrand.Uint64()
	}
	return &faultSet{rng: mrand.New(mrand.NewPCG(s1, s2))}
}

// AddFault validates f and adds it after the existing rules; the ID it gets is
// in the returned rule of Faults. Use AddFaultRule to get it directly.
func (s *Server) AddFault(f Fault) error {
	_, err := s.AddFaultRule(f)
	return err
}

// AddFaultRule is AddFault returning the stored rule (with its ID).
func (s *Server) AddFaultRule(f Fault) (Fault, error) {
	if f.Probability == 0 {
		f.Probability = 1
	}
	if err := f.Validate(); err != nil {
		return Fault{}, err
	}
	f.Users = slices.Clone(f.Users)
	f.Fired = 0
	fs := s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.nextID++
	f.ID = "f" + strconv.Itoa(fs.nextID)
	fs.rules = append(fs.rules, &f)
	fs.n.Store(int32(len(fs.rules)))
	return f, nil
}

// Faults lists the rules, exhausted ones included (with Fired == Count).
func (s *Server) Faults() []Fault {
	fs := s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	out := make([]Fault, len(fs.rules))
	for i, r := range fs.rules {
		out[i] = *r
		out[i].Users = slices.Clone(r.Users)
	}
	return out
}

// ClearFaults removes every rule.
func (s *Server) ClearFaults() { s.faults.clear() }

// RemoveFault removes rule id and reports whether it existed.
func (s *Server) RemoveFault(id string) bool {
	fs := s.faults
	fs.mu.Lock()
	defer fs.mu.Unlock()
	i := slices.IndexFunc(fs.rules, func(r *Fault) bool { return r.ID == id })
	if i < 0 {
		return false
	}
	fs.rules = slices.Delete(fs.rules, i, i+1)
	fs.n.Store(int32(len(fs.rules)))
	return true
}

func (fs *faultSet) clear() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := len(fs.rules)
	fs.rules = nil
	fs.n.Store(0)
	return n
}

// decision is what the rules decided for one request.
type decision struct {
	latency time.Duration
	action  *Fault   // copy of the rule whose action ends the request; nil = none
	fired   []string // ledger Detail of each fired rule
}

func (d decision) none() bool { return d.latency == 0 && d.action == nil && len(d.fired) == 0 }

func (f *Fault) matches(api, user string) bool {
	if f.Count > 0 && f.Fired >= f.Count {
		return false
	}
	if f.API != "*" && f.API != api {
		return false
	}
	return len(f.Users) == 0 || (user != "" && slices.Contains(f.Users, user))
}

func (f *Fault) hasAction() bool { return f.Errcode != 0 || f.Status != 0 || f.Reset || f.Hang }

// decide rolls the dice for one request to api by user.
func (fs *faultSet) decide(api, user string) decision {
	var d decision
	if fs.n.Load() == 0 {
		return d
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.rules {
		if !f.matches(api, user) {
			continue
		}
		if f.Probability < 1 && fs.rng.Float64() >= f.Probability {
			continue
		}
		f.Fired++
		lat := f.Latency
		if f.LatencyMax > 0 {
			lat += f.LatencyMin + time.Duration(fs.rng.Int64N(int64(f.LatencyMax-f.LatencyMin)+1))
		}
		d.latency += lat
		d.fired = append(d.fired, f.describe(lat))
		if f.hasAction() {
			cp := *f
			d.action = &cp
			break
		}
	}
	return d
}

// FaultError is what Login returns when a wx.login fault rule answers.
type FaultError struct {
	Rule    string // rule id
	Errcode int    // errcode answered, if any
	Status  int    // HTTP status answered, if any
	Action  string // "errcode", "status", "reset" or "hang"
}

func (e *FaultError) Error() string {
	return fmt.Sprintf("mockwechat: wx.login fault %s: %s (errcode %d, status %d)", e.Rule, e.Action, e.Errcode, e.Status)
}

// ErrClosed: a hang was released by Server.Close.
var ErrClosed = errors.New("mockwechat: server closed")
