package ledger

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	at := time.Date(2026, 11, 21, 6, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	cases := []Event{
		{},
		{Seq: 1, Time: at, Source: SourceBackend, Kind: KindAPI},
		{Seq: 42, Time: at, Source: SourceClient, Kind: KindSettle, Device: "d1", Subject: "o123", RID: "r1", Attempt: 2,
			Token: "jti", Family: "f", Route: "/api/orders", Method: "POST", Status: 401, Outcome: OutcomeExpired,
			Errcode: -1, Code: "c", BodyHash: "abcd", Detail: `quote " back \ slash <script>&</script> tab	nl
 ctl` + "\x01 \u2028 é 登录 \xff", Expires: at.Add(time.Hour), LatencyNS: 12345},
	}
	for _, e := range cases {
		var want bytes.Buffer
		require.NoError(t, json.NewEncoder(&want).Encode(&e))
		got := appendJSON(nil, &e)
		assert.Equal(t, want.String(), string(got))
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("detail", "d1", int64(7))
	f.Add("\xff\xfe<>&\u2028", "", int64(-1))
	f.Fuzz(func(t *testing.T, detail, device string, n int64) {
		e := Event{Seq: 3, Time: time.Unix(0, n).UTC(), Detail: detail, Device: device, LatencyNS: n, Status: int(n % 600)}
		var want bytes.Buffer
		require.NoError(t, json.NewEncoder(&want).Encode(&e))
		if got := string(appendJSON(nil, &e)); got != want.String() {
			t.Fatalf("got %s want %s", got, want.String())
		}
	})
}
