// Command good is an example backend under test that tokenstorm passes: a
// session API with its own routes, members and signals (package
// examples/backends/sessions), described to tokenstorm by style.yaml next
// to this file.
//
//	go build -o bin/good-backend ./examples/backends/good
//	bin/good-backend -addr 127.0.0.1:8080 -wechat http://127.0.0.1:9400 -session-ttl 3s &
//	tokenstorm run --backend http://127.0.0.1:8080 --style examples/backends/good/style.yaml --wechat-addr 127.0.0.1:9400
package main

import (
	"os"

	"github.com/tokenstorm/tokenstorm/examples/backends/sessions"
)

func main() { os.Exit(sessions.Main("good-backend", false, os.Args[1:])) }
