package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
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
}

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
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(methods),
		jwt.WithAudience(cfg.Audience),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(cfg.Leeway),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	return &jwtVerifier{parser: jwt.NewParser(opts...), keys: cfg.Keys, defaultRole: cfg.defaultRole()}
}

func (v *jwtVerifier) verify(token string) (*claims, error) {
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
