package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"
)

// reachTimeout bounds the start-up check of a backend under test.
const reachTimeout = 3 * time.Second

// checkBackend makes an unreachable --backend a configuration error (exit
// 2, one line) instead of every probe failing on it. Any HTTP answer, even
// a 404, means it is there.
func checkBackend(ctx context.Context, raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("--backend %q is not an http(s) URL", raw)
	}
	ctx, cancel := context.WithTimeout(ctx, reachTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return usagef("--backend %q: %v", raw, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return usagef("--backend %s cannot be reached (%v): start it first, or check the URL", raw, err)
	}
	resp.Body.Close()
	return nil
}
