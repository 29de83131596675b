package backend

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/tokenstorm/tokenstorm/harness/ledger"
	"github.com/tokenstorm/tokenstorm/harness/style"
)

// accessClaims are the claims of an access token. fam ties the token to its
// refresh family (revoking the family kills it); n is a server-wide serial
// number so that admin expire can expire "every token issued so far" without
// touching tokens issued a moment later.
type accessClaims struct {
	Fam string `json:"fam"`
	N   uint64 `json:"n"`
	jwt.RegisteredClaims
}

// signingMethod is the only algorithm issued and accepted.
var signingMethod = jwt.SigningMethodHS256

func newParser(now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		jwt.WithValidMethods([]string{signingMethod.Alg()}), // pins alg: "none", HS384, RS256... are refused
		jwt.WithTimeFunc(now),                               // the injected clock decides expiry
		jwt.WithExpirationRequired(),
		jwt.WithStrictDecoding(),
	)
}

// randomID returns n random bytes, base64url encoded, with a prefix.
func randomID(prefix string, n int) string {
	var buf [32]byte
	_, _ = rand.Read(buf[:n]) // never fails (crypto/rand since Go 1.24)
	return prefix + base64.RawURLEncoding.EncodeToString(buf[:n])
}

// newRefreshSecret returns an opaque refresh token and the hash it is stored
// under: the store never holds a usable secret.
func newRefreshSecret() (string, [32]byte) {
	tok := randomID("", 32)
	return tok, sha256.Sum256([]byte(tok))
}

// access is a freshly issued access token.
type access struct {
	token string
	jti   string
	exp   time.Time
}

// issueAccess signs an access token for subject in family fam.
func (s *Server) issueAccess(subject, fam string, now time.Time, ttl time.Duration) (access, error) {
	return s.signAccess(subject, fam, randomID("", 16), now, ttl)
}

func (s *Server) signAccess(subject, fam, jti string, now time.Time, ttl time.Duration) (access, error) {
	exp := now.Add(ttl)
	c := accessClaims{
		Fam: fam,
		N:   s.serial.Add(1),
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   subject,
			ID:        jti,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
	}
	tok, err := jwt.NewWithClaims(signingMethod, c).SignedString(s.key)
	if err != nil {
		return access{}, err
	}
	s.ledger.NoteSecret(tok) // the admin ledger hides it wherever a client printed it
	return access{token: tok, jti: jti, exp: c.ExpiresAt.Time}, nil
}

// tokenCheck is the verdict on the access token a request carried.
type tokenCheck struct {
	outcome string // ledger.OutcomeOK | OutcomeExpired | OutcomeInvalid | OutcomeMissing
	detail  string // why, for the ledger
	jti     string // set once the signature is verified
	subject string
	fam     string
	exp     time.Time
}

// checkAccess validates the token in h. Order matters: the signature is
// verified before any claim is believed; a token of an unknown or revoked
// family is invalid even when it has also expired, because refreshing cannot
// save it.
func (s *Server) checkAccess(h http.Header, st *style.Style) tokenCheck {
	raw, err := st.TokenFrom(h)
	return s.checkToken(raw, err)
}

// checkToken validates a raw access token; err is the error of reading it
// from the request.
func (s *Server) checkToken(raw string, err error) tokenCheck {
	if err != nil {
		if errors.Is(err, style.ErrNoToken) {
			return tokenCheck{outcome: ledger.OutcomeMissing, detail: "no access token"}
		}
		return tokenCheck{outcome: ledger.OutcomeInvalid, detail: "malformed authorization header"}
	}
	c, ok := s.verified.get(raw)
	var expired bool
	if ok {
		// What jwt's validator decides of exp (no leeway): valid strictly before it.
		expired = !s.clock.Now().Before(c.exp)
	} else {
		var tc tokenCheck
		if c, expired, tc = s.verify(raw); tc.outcome != "" {
			return tc
		}
	}
	tc := tokenCheck{outcome: ledger.OutcomeOK, jti: c.jti, subject: c.subject, fam: c.fam, exp: c.exp}
	switch s.store.accessState(c.subject, c.fam, c.n) {
	case stateUnknown:
		tc.outcome, tc.detail = ledger.OutcomeInvalid, "unknown token family"
	case stateRevoked:
		tc.outcome, tc.detail = ledger.OutcomeInvalid, "token family revoked"
	case stateAdminExpired:
		tc.outcome, tc.detail = ledger.OutcomeExpired, "expired by admin"
	default:
		if expired {
			tc.outcome, tc.detail = ledger.OutcomeExpired, "exp passed"
		}
	}
	return tc
}

// verify parses raw and checks its signature and claims. A token it
// refuses comes back as a tokenCheck with an outcome; one it accepts, expired
// or not, is remembered in s.verified.
func (s *Server) verify(raw string) (c verifiedClaims, expired bool, refused tokenCheck) {
	var ac accessClaims
	_, err := s.parser.ParseWithClaims(raw, &ac, s.keyfn)
	if err != nil {
		if !errors.Is(err, jwt.ErrTokenExpired) {
			return c, false, tokenCheck{outcome: ledger.OutcomeInvalid, detail: jwtReason(err)}
		}
		expired = true // the signature was verified before claims (jwt/v5 order)
	}
	if ac.Subject == "" || ac.ID == "" || ac.Fam == "" || ac.N == 0 || ac.ExpiresAt == nil {
		return c, false, tokenCheck{outcome: ledger.OutcomeInvalid, detail: "missing claims"}
	}
	c = verifiedClaims{subject: ac.Subject, jti: ac.ID, fam: ac.Fam, n: ac.N, exp: ac.ExpiresAt.Time}
	// A not-before claim would make validity depend on time in a second
	// way; this server never issues one, so such a token is not remembered.
	if ac.NotBefore == nil {
		s.verified.put(raw, c)
	}
	return c, expired, tokenCheck{}
}

// jwtReason is a short ledger detail for a refused JWT.
func jwtReason(err error) string {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return "bad signature or algorithm"
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return "unverifiable token"
	}
	return "invalid claims"
}
