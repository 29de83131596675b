package refclient_test

import (
	"fmt"
	"io"
	"net/http"

	"github.com/tokenstorm/tokenstorm/harness/refclient"
	"github.com/tokenstorm/tokenstorm/harness/refclient/refclienttest"
)

// The reference client as a library: one http.RoundTripper per device, used
// by a plain http.Client. Logging in, attaching the token, refreshing and
// replaying all happen inside the transport.
func ExampleClient_Transport() {
	stack := refclienttest.Start(refclienttest.Options{}) // stands in for mockwechat + backend
	defer stack.Close()

	rc := refclient.New(stack.Env(), refclient.Options{})
	defer rc.Close()
	hc := &http.Client{Transport: rc.Transport("alice")}

	get := func() {
		resp, err := hc.Get(stack.URL + "/api/profile?rid=1")
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		fmt.Print(resp.StatusCode, " ", string(body))
	}
	get()             // logs in first
	stack.ExpireAll() // the backend expires every token
	get()             // 401 token_expired → refresh → replay, invisible here
	fmt.Println(stack.Stats().Refreshes, "refresh")
	// Output:
	// 200 {"path":"/api/profile","rid":"1","user":"alice"}
	// 200 {"path":"/api/profile","rid":"1","user":"alice"}
	// 1 refresh
}
