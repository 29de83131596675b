// Package execclient drives a client under test that runs as a separate
// process, written in any language: `tokenstorm … --client exec:'CMD'`.
//
// The harness starts CMD once, with `sh -c CMD` (so quoting, pipes, `cd dir &&`
// and environment assignments work as they do in a CI script), and speaks JSON
// Lines with it: one JSON object per line on the process's stdin (harness to
// client) and stdout (client to harness). Stderr is free-form; the harness keeps
// its last lines and shows them whenever the process misbehaves.
//
// The wire protocol (version 1) is specified in docs/exec-protocol.md; protocol.go
// holds its message shapes. In short:
//
//	harness → client  {"type":"hello","protocol":1,"backend_url":…,"wechat_url":…,"appid":…,"style_spec":{…}}
//	client  → harness {"type":"hello","protocol":1,"name":"my-client"}
//	harness → client  {"type":"call","id":"r1","device":"d1","method":"GET","path":"/api/x?rid=r1","headers":{…},"body":""}
//	client  → harness {"id":"r1","status":200,"headers":{…},"body":"…"}   or   {"id":"r1","error":"…"}
//
// style_spec is the backend style (harness/style.Style as JSON: routes,
// fields, token placement, signals), so that a client in any language can
// speak every dialect without a YAML parser.
//
// Many calls are in flight at once and may be answered in any order; answers
// are matched by id. Each call's deadline is the context given to Do.
//
// Failure model, chosen so that a broken client can never hang the harness and
// every failure is explained:
//   - fatal: the process exits (whatever its status) or closes its stdout
//     before Close, or fails the hello handshake. Every pending and future
//     call fails at once with an *ExitError (or New returns a *HelloError)
//     that carries the tail of the process's stderr.
//   - non-fatal, recorded: lines that are not JSON, answers for unknown ids,
//     second answers for an id, malformed answers. They are returned by
//     Errors() and logged to the ledger as KindClientLog events; a malformed
//     answer for a pending call settles that call with the error.
package execclient
