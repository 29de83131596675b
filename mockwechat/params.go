package mockwechat

import (
	"io"
	"mime"
	"net/http"
	"net/url"
)

// params are a WeChat API's parameters: the query string and, for a POST with
// a form body, the form. Like WeChat, a duplicated parameter counts with its
// first value, and the query wins over the body.
type params struct {
	query url.Values
	form  url.Values
}

func (p params) get(k string) string {
	if v := p.query[k]; len(v) > 0 {
		return v[0]
	}
	if v := p.form[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// readParams parses r's parameters. Malformed pairs (bad %-escapes, ";") are
// skipped, the rest kept: WeChat does not reject a whole query for one bad pair.
// ok is false only when the body was over the cap (the 413 is already written).
func (c *call) readParams() (p params, ok bool) {
	r := c.r
	p.query, _ = url.ParseQuery(r.URL.RawQuery)
	if r.Method != http.MethodPost {
		return p, true
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return p, true
	}
	b, err := readBody(r)
	if err != nil {
		if isTooLarge(err) {
			c.tooLarge()
			return p, false
		}
		return p, true // a broken body is an empty one
	}
	p.form, _ = url.ParseQuery(string(b))
	return p, true
}

// getOrPost: the GET APIs also work with POST (their parameters in the query
// string or a form body), as backends that POST to jscode2session find; any
// other method gets 43001.
func getOrPost(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodPost
}

// readBody reads the (capped) body; a request built in-process may have none.
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil {
		return nil, nil
	}
	return io.ReadAll(r.Body)
}
