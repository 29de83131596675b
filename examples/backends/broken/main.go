// Command broken is the good example backend with the "swallowed expiry" bug
// of tokenstorm's SPEC §1: an expired or unknown session gets an empty
// success (HTTP 200 {"result":"ok","items":[]}, "no orders") instead of its
// signal, so a client never renews. tokenstorm fails it on expiry-signalled:
//
//	go build -o bin/broken-backend ./examples/backends/broken
//	bin/broken-backend -addr 127.0.0.1:8081 -wechat http://127.0.0.1:9400 -session-ttl 3s &
//	tokenstorm run --backend http://127.0.0.1:8081 --style examples/backends/good/style.yaml --wechat-addr 127.0.0.1:9400   # exit 1
package main

import (
	"os"

	"github.com/tokenstorm/tokenstorm/examples/backends/sessions"
)

func main() { os.Exit(sessions.Main("broken-backend", true, os.Args[1:])) }
