package mockwechat

import (
	"encoding/base64"
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenIDShape(t *testing.T) {
	re := regexp.MustCompile(`^o[A-Za-z0-9_-]{27}$`)
	a := OpenID(DefaultAppID, "d1")
	require.Regexp(t, re, a)
	assert.Equal(t, a, OpenID(DefaultAppID, "d1"), "stable")
	assert.NotEqual(t, a, OpenID(DefaultAppID, "d2"), "per user")
	b := OpenID(app2ID, "d1")
	assert.NotEqual(t, a, b, "per app")
	assert.Equal(t, a[:6], OpenID(DefaultAppID, "someone else")[:6], "one app's openids share a prefix, like WeChat's")
	assert.Regexp(t, re, UnionID("d1"))
	assert.Equal(t, UnionID("d1"), UnionID("d1"))
	assert.NotEqual(t, UnionID("d1"), UnionID("d2"))
}

func TestGeneratedValues(t *testing.T) {
	code := newCode()
	assert.Regexp(t, `^0[0-9A-Za-z]{31}$`, code)
	assert.NotEqual(t, code, newCode())
	k, err := base64.StdEncoding.DecodeString(newSessionKey())
	require.NoError(t, err)
	assert.Len(t, k, 16)
	assert.Regexp(t, `^88_[A-Za-z0-9_-]{128}$`, newAccessToken())
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}$`, newRID(t0))
	assert.Equal(t, fmt.Sprintf("%08x", t0.Unix()), newRID(t0)[:8], "first part is the clock's unix time in hex")
	// Known-answer check of the checksession signature (HMAC-SHA256 of "").
	assert.Equal(t, "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad", Signature(""))
}

func TestConfigValidate(t *testing.T) {
	assert.NoError(t, Config{}.Validate())
	assert.ErrorContains(t, Config{Apps: []App{{Secret: "s"}}}.Validate(), "empty appid")
	assert.ErrorContains(t, Config{Apps: []App{{AppID: "a"}}}.Validate(), "empty secret")
	assert.ErrorContains(t, Config{Apps: []App{{AppID: "a", Secret: "s"}, {AppID: "a", Secret: "t"}}}.Validate(), "duplicate")
	assert.Panics(t, func() { New(Config{Apps: []App{{AppID: "a"}}}) })

	s := New(Config{})
	defer s.Close()
	assert.Equal(t, []App{{AppID: DefaultAppID, Secret: DefaultSecret}}, s.Apps())
}
