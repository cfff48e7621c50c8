package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWTConfig verifies players' tokens.
type JWTConfig struct {
	// Keys verify token signatures. A token whose header names a kid is
	// checked with the key of that ID only; others with every key of the
	// algorithm's kind.
	Keys []Key
	// Audience must be among the token's aud claim. Required with Keys.
	Audience string
	// Issuer, when set, must be the token's iss claim.
	Issuer string
	// Leeway is the clock skew allowed when checking exp and nbf.
	Leeway time.Duration
	// DefaultRole is the role of a player whose token has no "role" claim;
	// empty means "player".
	DefaultRole string
}

// Key is a key that verifies JWT signatures.
type Key struct {
	// ID is matched against a token's kid header; may be empty.
	ID string
	// Key is a []byte secret (HS256), an *rsa.PublicKey (RS256), an
	// *ecdsa.PublicKey (ES256) or an ed25519.PublicKey (EdDSA).
	Key any
}

func (k Key) method() (jwt.SigningMethod, error) {
	switch key := k.Key.(type) {
	case []byte:
		if len(key) < 32 {
			return nil, fmt.Errorf("auth: JWT key %q: an HS256 secret needs at least 32 bytes", k.ID)
		}
		return jwt.SigningMethodHS256, nil
	case *rsa.PublicKey:
		return jwt.SigningMethodRS256, nil
	case *ecdsa.PublicKey:
		return jwt.SigningMethodES256, nil
	case ed25519.PublicKey:
		return jwt.SigningMethodEdDSA, nil
	}
	return nil, fmt.Errorf("auth: JWT key %q: unsupported key type %T", k.ID, k.Key)
}

func (c *JWTConfig) defaultRole() string {
	if c.DefaultRole == "" {
		return "player"
	}
	return c.DefaultRole
}

func (c *JWTConfig) validate() error {
	if len(c.Keys) == 0 {
		return nil
	}
	var errs []error
	if c.Audience == "" {
		errs = append(errs, errors.New("auth: JWT keys are given without an audience"))
	}
	for _, k := range c.Keys {
		if _, err := k.method(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

type claims struct {
	jwt.RegisteredClaims
	Role string `json:"role,omitempty"`
}

type jwtVerifier struct {
	parser      *jwt.Parser
	keys        []Key
	defaultRole string
	leeway      time.Duration
	now         func() time.Time

	mu       sync.Mutex
	verified map[[sha256.Size]byte]*claims // by the token's SHA-256
}

// A player sends its token with every call, and verifying it (parsing
// its JSON, checking its signature) costs from a tenth of a small
// Publish's gateway CPU with HS256 to as much again with ES256
// (BenchmarkVerify). So a token that verified is remembered,
// by its SHA-256, and when it comes again only the clock is checked (exp
// and nbf, with the leeway): a remembered token is refused the moment a
// new one would be. Tokens that fail are not remembered, so no caller can
// fill the memory with garbage; when it holds maxVerifiedTokens, a new
// token takes the place of an arbitrary one, which only costs its owner
// one verification more. The keys never change while a gateway runs.
const maxVerifiedTokens = 16384

func newJWTVerifier(cfg JWTConfig) *jwtVerifier {
	var methods []string
	seen := make(map[string]bool)
	for _, k := range cfg.Keys {
		m, _ := k.method() // validated
		if !seen[m.Alg()] {
			seen[m.Alg()] = true
			methods = append(methods, m.Alg())
		}
	}
	v := &jwtVerifier{keys: cfg.Keys, defaultRole: cfg.defaultRole(), leeway: cfg.Leeway, now: time.Now,
		verified: make(map[[sha256.Size]byte]*claims)}
	opts := []jwt.ParserOption{
		jwt.WithTimeFunc(func() time.Time { return v.now() }),
		jwt.WithValidMethods(methods),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	v.parser = jwt.NewParser(opts...)
	return v
}

// verify returns token's claims once it is valid: signed by one of the
// keys, for the audience (and issuer), within its time. The claims are
// shared by every call with the token: read them, never change them.
func (v *jwtVerifier) verify(token string) (*claims, error) {
	sum := sha256.Sum256([]byte(token))
	v.mu.Lock()
	c, ok := v.verified[sum]
	v.mu.Unlock()
	if ok && v.current(c) {
		return c, nil
	}
	c, err := v.parse(token)
	if err != nil {
		if ok {
			v.mu.Lock()
			delete(v.verified, sum)
			v.mu.Unlock()
		}
		return nil, err
	}
	v.mu.Lock()
	if len(v.verified) >= maxVerifiedTokens {
		for k := range v.verified { // an arbitrary one
			delete(v.verified, k)
			break
		}
	}
	v.verified[sum] = c
	v.mu.Unlock()
	return c, nil
}

// current reports whether the clock still accepts a token with claims c
// as the parser would: before exp and not before nbf, give or take the
// leeway.
func (v *jwtVerifier) current(c *claims) bool {
	now := v.now()
	if c.ExpiresAt == nil || !now.Before(c.ExpiresAt.Add(v.leeway)) {
		return false
	}
	return c.NotBefore == nil || !now.Before(c.NotBefore.Add(-v.leeway))
}

// parse verifies token in full.
func (v *jwtVerifier) parse(token string) (*claims, error) {
	c := new(claims)
	if _, err := v.parser.ParseWithClaims(token, c, v.key); err != nil {
		return nil, err
	}
	if c.Subject == "" {
		return nil, errors.New("token has no subject")
	}
	if c.Role == "" {
		c.Role = v.defaultRole
	}
	return c, nil
}

// key picks the keys that may have signed t: the one its kid names, or
// every key of its algorithm.
func (v *jwtVerifier) key(t *jwt.Token) (any, error) {
	kid, _ := t.Header["kid"].(string)
	var set jwt.VerificationKeySet
	for _, k := range v.keys {
		m, _ := k.method()
		if m.Alg() != t.Method.Alg() || kid != "" && k.ID != kid {
			continue
		}
		set.Keys = append(set.Keys, k.Key)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("no key for algorithm %s and kid %q", t.Method.Alg(), kid)
	}
	return set, nil
}
