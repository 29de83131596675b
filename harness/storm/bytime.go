package storm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/tokenstorm/tokenstorm/harness/style"
)

// byTime is how a storm expires tokens against a backend under test that has
// no POST /__admin/expire (SPEC §6): by its own token lifetime. The storm
// logs every device in (the warm-up) and starts the attack so that the
// tokens issued then expire at the first expire_all's time: "the tokens
// issued before t expire at t".
type byTime struct {
	ttl    time.Duration // the backend's access-token lifetime
	source string        // where ttl came from: "expires_in", "--access-ttl"
	at     time.Duration // the first expire_all
	err    error         // why expiries cannot be played (no lifetime known)
}

// planByTime returns nil when expiries are played through the admin API
// (the embedded backend, or a backend under test that serves a compatible
// POST /__admin/expire), else how they happen by time.
func planByTime(ctx context.Context, sc *Scenario, backendURL, wechatURL, appID string, sty *style.Style, accessTTL time.Duration, hc *http.Client) *byTime {
	first := time.Duration(-1)
	for _, e := range sc.Timeline {
		if e.Action == ActExpireAll && first < 0 {
			first = e.At
		}
	}
	if first < 0 {
		return nil // nothing to expire
	}
	// No token exists yet, so expiring "all" now is harmless: it only asks
	// whether the backend has the admin route.
	if status, err := postJSON(ctx, hc, backendURL+style.AdminPrefix+"expire", map[string]any{"all": true}); err == nil && status/100 == 2 {
		return nil
	}
	bt := &byTime{at: first}
	if ttl, ok := loginTTL(ctx, hc, backendURL, wechatURL, appID, sty); ok {
		bt.ttl, bt.source = ttl, "the login answer's "+sty.Answers.ExpiresIn.String()
	} else if accessTTL > 0 {
		bt.ttl, bt.source = accessTTL, "--access-ttl"
	} else {
		bt.err = fmt.Errorf("the backend has no %sexpire, its login answer does not say how long a token lives (no expires_in) and no --access-ttl was given: tokens cannot be expired by time", style.AdminPrefix)
	}
	return bt
}

// delay is how long to wait after the warm-up before the attack starts, so
// that the warm-up's tokens expire at the first expire_all.
func (bt *byTime) delay() time.Duration {
	if bt == nil || bt.err != nil {
		return 0
	}
	return max(bt.ttl-bt.at, 0)
}

// note describes the plan for the summary.
func (bt *byTime) note(name string) string {
	if bt.err != nil {
		return fmt.Sprintf("storm %s: %v", name, bt.err)
	}
	n := fmt.Sprintf("storm %s: the backend has no %sexpire: tokens expire by time — its access tokens live %s (%s), so the devices logged in %s before the attack and their tokens expire together at %s",
		name, style.AdminPrefix, bt.ttl, bt.source, bt.delay(), bt.at)
	if bt.ttl < bt.at {
		n += fmt.Sprintf(" (the lifetime is shorter than %s: they expire at ≈%s, before it)", bt.at, bt.ttl)
	}
	return n
}

// loginTTL logs a probe device in and reads expires_in from the answer.
func loginTTL(ctx context.Context, hc *http.Client, backendURL, wechatURL, appID string, sty *style.Style) (time.Duration, bool) {
	var wx struct{ Code string }
	b, _ := json.Marshal(map[string]string{"appid": appID, "user": "storm-ttl-probe"})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, wechatURL+"/__mock/wx/login", bytes.NewReader(b))
	if err != nil {
		return 0, false
	}
	req.Header.Set("Content-Type", "application/json")
	if _, body, err := do(hc, req); err != nil || json.Unmarshal(body, &wx) != nil || wx.Code == "" {
		return 0, false
	}
	req, err = sty.NewRequest(ctx, backendURL, &sty.Requests.Login, wx.Code)
	if err != nil {
		return 0, false
	}
	resp, body, err := do(hc, req)
	if err != nil || sty.Classify(resp.StatusCode, body) != style.SignalSuccess {
		return 0, false
	}
	t := sty.ReadTokens(resp.Header, body)
	if !t.HasExpiresIn || t.ExpiresIn <= 0 {
		return 0, false
	}
	return time.Duration(t.ExpiresIn) * time.Second, true
}

func postJSON(ctx context.Context, hc *http.Client, url string, in any) (int, error) {
	b, _ := json.Marshal(in)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, _, err := do(hc, req)
	if err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func do(hc *http.Client, req *http.Request) (*http.Response, []byte, error) {
	resp, err := hc.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, err
}
