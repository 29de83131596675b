package clients

import (
	"context"
	"fmt"
	"strings"

	"github.com/tokenstorm/tokenstorm/harness/client"
	"github.com/tokenstorm/tokenstorm/harness/execclient"
)

func init() {
	extra["exec"] = func(ctx context.Context, spec, arg string) (Factory, error) {
		if strings.TrimSpace(arg) == "" {
			return nil, fmt.Errorf("--client %q: exec needs a command, e.g. --client exec:'node client.mjs'", spec)
		}
		return func(env client.Env) (client.Client, error) {
			return execclient.New(ctx, arg, env, execclient.Options{})
		}, nil
	}
	extraKinds = append(extraKinds, Kind{"exec:'CMD'", "any language: CMD speaks JSON Lines on stdin/stdout (docs/exec-protocol.md)"})
}
