package refclient

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestBearerClassify(t *testing.T) {
	expiredHdr := http.Header{"Www-Authenticate": {`Bearer error="invalid_token", error_description="the access token expired"`}}
	invalidHdr := http.Header{"Www-Authenticate": {`Bearer error="invalid_token"`}}
	cases := []struct {
		name   string
		status int
		h      http.Header
		body   string
		want   Signal
	}{
		{"200", 200, nil, `{"error":"token_expired"}`, SignalNone},
		{"expired body", 401, nil, `{"error":"token_expired"}`, SignalExpired},
		{"invalid body", 401, nil, `{"error":"invalid_token"}`, SignalInvalid},
		{"expired header only", 401, expiredHdr, ``, SignalExpired},
		{"invalid header only", 401, invalidHdr, `not json`, SignalInvalid},
		{"both", 401, expiredHdr, `{"error":"token_expired"}`, SignalExpired},
		{"other reason wins over nothing", 401, nil, `{"error":"password_required"}`, SignalNone},
		{"bare 401", 401, nil, ``, SignalNone},
		{"403", 403, invalidHdr, `{"error":"invalid_token"}`, SignalNone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.h
			if h == nil {
				h = http.Header{}
			}
			assert.Equal(t, tc.want, Bearer{}.Classify(tc.status, h, []byte(tc.body)))
		})
	}
	assert.True(t, Bearer{}.Peek(401, nil))
	assert.False(t, Bearer{}.Peek(200, nil))
	name, value := Bearer{}.Credential("abc")
	assert.Equal(t, "Authorization", name)
	assert.Equal(t, "Bearer abc", value)
}

func TestBackoffDoublesAndIsCapped(t *testing.T) {
	o := Options{}.withDefaults()
	assert.Equal(t, 50*time.Millisecond, o.backoff(1, 0))
	assert.Equal(t, 100*time.Millisecond, o.backoff(2, 0))
	assert.Equal(t, 200*time.Millisecond, o.backoff(3, 0))
	assert.Equal(t, time.Second, o.backoff(10, 0))
	assert.Equal(t, 700*time.Millisecond, o.backoff(1, 700*time.Millisecond), "Retry-After honoured")
	assert.Equal(t, time.Second, o.backoff(1, time.Minute), "but capped")
}

func TestRetryAfterParsing(t *testing.T) {
	assert.Equal(t, int64(0), retryAfter(""))
	assert.Equal(t, int64(3), retryAfter("3"))
	assert.Equal(t, int64(0), retryAfter("soon"))
	assert.InDelta(t, 10, retryAfter(time.Now().Add(10*time.Second).UTC().Format(http.TimeFormat)), 1)
}

func TestFlightBudgetFollowsTheCallersDeadline(t *testing.T) {
	o := Options{}.withDefaults()
	assert.Equal(t, DefaultRefreshBudget, o.flightBudget(context.Background()))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	assert.InDelta(t, float64(2700*time.Millisecond), float64(o.flightBudget(ctx)), float64(50*time.Millisecond))

	long, cancel2 := context.WithTimeout(context.Background(), time.Minute)
	defer cancel2()
	assert.Equal(t, DefaultRefreshBudget, o.flightBudget(long))

	short, cancel3 := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel3()
	assert.Equal(t, minFlightBudget, o.flightBudget(short))
}
