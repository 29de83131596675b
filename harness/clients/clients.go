// Package clients turns a --client spec (ref, mutant:NAME, exec:CMD, js:PATH)
// into a client.Client. It is the one place that knows every client kind.
package clients

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/mutant"
	"github.com/tokenstorm/tokenstorm/harness/refclient"
)

// Kind describes one client kind for `tokenstorm clients`.
type Kind struct {
	Spec    string
	Summary string
}

// Factory builds a client for one stack (a probe, a scenario, a storm).
type Factory func(env client.Env) (client.Client, error)

// Parse validates spec and returns a factory for it. Errors are usage errors:
// they say what is wrong with the spec.
func Parse(ctx context.Context, spec string) (Factory, error) {
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "", "ref":
		if arg != "" {
			return nil, fmt.Errorf("--client %q: ref takes no argument", spec)
		}
		return func(env client.Env) (client.Client, error) {
			return refclient.New(env, refclient.Options{}), nil
		}, nil
	case "mutant":
		if !contains(mutant.Names(), arg) {
			return nil, fmt.Errorf("--client %q: unknown mutant %q (known: %s)", spec, arg, strings.Join(mutant.Names(), ", "))
		}
		return func(env client.Env) (client.Client, error) { return mutant.New(arg, env) }, nil
	}
	if f, ok := extra[kind]; ok {
		return f(ctx, spec, arg)
	}
	return nil, fmt.Errorf("--client %q: unknown client kind %q (want ref, mutant:NAME, exec:CMD or js:PATH; see tokenstorm clients)", spec, kind)
}

// extra holds the client kinds registered by other files of this package
// (exec:, js:), keeping this file free of their dependencies.
var extra = map[string]func(ctx context.Context, spec, arg string) (Factory, error){}

var extraKinds []Kind

// List returns every client kind with one line each.
func List() []Kind {
	out := []Kind{{"ref", "the reference Go client: single-flight refresh, queueing, one replay, proactive refresh, wx.login fallback (default)"}}
	names := append([]string(nil), mutant.Names()...)
	sort.Strings(names)
	for _, n := range names {
		out = append(out, Kind{"mutant:" + n, mutant.Describe(n)})
	}
	return append(out, extraKinds...)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}
