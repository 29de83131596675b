package backendcheck

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Forged tokens a backend must refuse with its invalid signal: the claims
// of a JWT it issued (or, for an opaque token, plausible claims) under
// "alg": "none" with no signature, and signed with a key that is not the
// backend's — which is also what a token issued by another backend looks
// like to it.

var b64 = base64.RawURLEncoding

// jwtPayload returns the payload segment of tok when tok is a JWT, else
// a payload with plausible claims for device.
func jwtPayload(tok, device string) string {
	if parts := strings.Split(tok, "."); len(parts) == 3 {
		if h, err := b64.DecodeString(parts[0]); err == nil && json.Valid(h) && strings.Contains(string(h), `"alg"`) {
			return parts[1]
		}
	}
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{"sub": device, "iat": now, "exp": now + 3600})
	return b64.EncodeToString(claims)
}

// unsignedJWT is tok's claims under alg none, with an empty signature.
func unsignedJWT(tok, device string) string {
	return b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + jwtPayload(tok, device) + "."
}

// foreignJWT is tok's claims signed HS256 with key, a key the backend does
// not have.
func foreignJWT(tok, device string, key []byte) string {
	in := b64.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + jwtPayload(tok, device)
	m := hmac.New(sha256.New, key)
	m.Write([]byte(in))
	return in + "." + b64.EncodeToString(m.Sum(nil))
}
