package clients

import (
	"context"
	"fmt"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/jsclient"
)

func init() {
	extra["js"] = func(ctx context.Context, spec, arg string) (Factory, error) {
		if strings.TrimSpace(arg) == "" {
			return nil, fmt.Errorf("--client %q: js needs the adapter module, e.g. --client js:examples/js/correct/adapter.js", spec)
		}
		// Bundle once up front so a syntax error is a usage error naming file:line:col.
		if _, err := jsclient.Bundle(arg); err != nil {
			return nil, fmt.Errorf("--client %q: %v", spec, err)
		}
		return func(env client.Env) (client.Client, error) {
			// The run's context: Ctrl-C interrupts every runtime at once.
			return jsclient.New(arg, env, jsclient.Options{Context: ctx})
		}, nil
	}
	extraKinds = append(extraKinds, Kind{"js:PATH", "mini-program JavaScript: PATH exports call(req) → Promise, run with a wx/uni shim, one runtime per device (docs/js-clients.md)"})
}
