package mockwechat

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"time"
)

// OpenID returns the openid WeChat gives user in the mini-program appid: "o"
// followed by 27 characters of the base64url alphabet, 28 in all, like the real
// ones ("oGZUI0egBJY1zhBYw2KhdUfwVJJE"). It is stable per (appid, user) and
// differs between apps. As on WeChat, the first characters after the "o"
// depend on the app only, so all openids of one app share a prefix.
func OpenID(appid, user string) string {
	app := sha256.Sum256([]byte("mockwechat/app\x00" + appid))
	m := hmac.New(sha256.New, []byte("mockwechat/openid\x00"+appid))
	m.Write([]byte(user))
	var sum [sha256.Size]byte
	usr := m.Sum(sum[:0])

	var buf [28]byte
	buf[0] = 'o'
	var enc [44]byte
	base64.RawURLEncoding.Encode(enc[:], app[:])
	copy(buf[1:6], enc[:5])
	base64.RawURLEncoding.Encode(enc[:], usr)
	copy(buf[6:], enc[:22])
	return string(buf[:])
}

// UnionID returns the unionid of user: stable per user across every app that
// has UnionID enabled (they all belong to one open-platform account here).
func UnionID(user string) string {
	sum := sha256.Sum256([]byte("mockwechat/unionid\x00" + user))
	var enc [44]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return "o" + string(enc[:27])
}

// Signature is what a backend sends to /wxa/checksession: the lowercase hex
// HMAC-SHA256 of the empty string keyed by the session_key (the base64 text as
// the backend received it, which is what WeChat's documentation prescribes).
func Signature(sessionKey string) string {
	m := hmac.New(sha256.New, []byte(sessionKey))
	return hex.EncodeToString(m.Sum(nil))
}

const alnum = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// newCode returns a wx.login code shaped like WeChat's: 32 alphanumeric
// characters, starting with "0" as most real ones do ("0716AVll20uHk94S...").
func newCode() string {
	var b [32]byte
	if _, err := rand.Read(b[1:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	b[0] = '0'
	for i := 1; i < len(b); i++ {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b[:])
}

// newSessionKey returns base64 of 16 random bytes, like WeChat's session_key
// ("tQY+38pdTVnAIWCBNiM1+A=="): it is an AES-128 key for decrypting user data.
func newSessionKey() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b[:])
}

// newAccessToken returns an opaque access_token shaped like WeChat's
// ("74_Qg4aPchVi-mQmaDub78_..."): a small number, "_", then 128 characters.
func newAccessToken() string {
	var b [96]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return "88_" + base64.RawURLEncoding.EncodeToString(b[:])
}

// newRID returns a request id like WeChat's "66c69111-4157f271-729ca238": the
// first part is the unix time in hex (taken from the injected clock), the rest
// is random.
func newRID(now time.Time) string {
	return fmt.Sprintf("%08x-%08x-%08x", uint32(now.Unix()), mrand.Uint32(), mrand.Uint32())
}
