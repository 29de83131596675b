// Package mutant holds tokenstorm's deliberately broken clients (SPEC §5
// "Mutants"): one per failure of SPEC §1, each the reference client with
// exactly one refclient.Behaviour defect switched on, so that every invariant
// is proven able to fail. Select one with --client mutant:NAME.
package mutant

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
)

// mutant is one defect: which invariant it breaks and the switch that does it.
type mutant struct {
	breaks string // the SPEC §5 invariant the defect violates
	doc    string
	set    func(*refclient.Behaviour)
}

var mutants = map[string]mutant{
	"storm": {"single-refresh", "every request that meets the expiry runs its own refresh; no single flight",
		func(b *refclient.Behaviour) { b.NoSingleFlight = true }},
	"single-slot": {"no-lost-requests", "one pending-replay slot per device: concurrent expired requests overwrite each other and the overwritten callers never settle",
		func(b *refclient.Behaviour) { b.SingleSlot = true }},
	"no-replay": {"correct-replay", "after refreshing it delivers the original 401 instead of replaying the request",
		func(b *refclient.Behaviour) { b.NoReplay = true }},
	"stale-replay": {"correct-replay", "replays the request with the old, rejected token",
		func(b *refclient.Behaviour) { b.StaleReplay = true }},
	"drop-body": {"correct-replay", "replays the request without its body",
		func(b *refclient.Behaviour) { b.DropBody = true }},
	"double-replay": {"correct-replay", "replays the request twice (a POST is executed twice: no-duplicate-effects breaks too)",
		func(b *refclient.Behaviour) { b.DoubleReplay = true }},
	"retry-forever": {"bounded-retry", "retries a failed refresh without bound, and refreshes+retries a 401 that is not about the token, until the context ends",
		func(b *refclient.Behaviour) { b.RetryForever = true }},
	"hang-on-failure": {"no-lost-requests", "when the refresh fails, the requests waiting for it are never settled",
		func(b *refclient.Behaviour) { b.HangOnFailure = true }},
	"late-401": {"single-refresh", "a late 401 from a request sent with an already-replaced token starts a second refresh",
		func(b *refclient.Behaviour) { b.RefreshOnLate401 = true }},
	"fabricate": {"genuine-answers", "answers a request that meets the expiry with an invented empty success (HTTP 200 {\"items\":[]}) instead of refreshing and replaying",
		func(b *refclient.Behaviour) { b.Fabricate = true }},
	"code-reuse": {"code-single-use", "a new login sends the previous wx.login code again, so jscode2session answers 40163",
		func(b *refclient.Behaviour) { b.ReuseCode = true }},
}

// Names lists the mutants, sorted.
func Names() []string {
	out := make([]string, 0, len(mutants))
	for n := range mutants {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Describe says in one line which invariant a mutant breaks and how; "" for
// an unknown name.
func Describe(name string) string {
	m, ok := mutants[strings.TrimPrefix(name, "mutant:")]
	if !ok {
		return ""
	}
	return m.breaks + ": " + m.doc
}

// Breaks returns the invariant a mutant violates ("" for an unknown name).
func Breaks(name string) string {
	return mutants[strings.TrimPrefix(name, "mutant:")].breaks
}

// New returns the mutant called name ("storm" or "mutant:storm").
func New(name string, env client.Env) (client.Client, error) {
	return NewWith(name, env, refclient.Options{})
}

// NewWith is New with reference-client options (timeouts, clocks) under the
// defect; opts.Behaviour is replaced.
func NewWith(name string, env client.Env, opts refclient.Options) (*refclient.Client, error) {
	m, ok := mutants[strings.TrimPrefix(name, "mutant:")]
	if !ok {
		return nil, fmt.Errorf("unknown mutant %q (known: %s)", name, strings.Join(Names(), ", "))
	}
	opts.Behaviour = refclient.Behaviour{}
	m.set(&opts.Behaviour)
	return refclient.New(env, opts), nil
}
