package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("a-secret-of-at-least-32-bytes-for-hs256")

// testVerifier verifies HS256 tokens signed with testSecret, for audience
// "cairn", on a clock the test sets.
func testVerifier(clock *time.Time) *jwtVerifier {
	v := newJWTVerifier(JWTConfig{Keys: []Key{{Key: testSecret}}, Audience: "cairn", Leeway: 5 * time.Second})
	v.now = func() time.Time { return *clock }
	return v
}

func sign(t testing.TB, claims jwt.MapClaims, key any, method jwt.SigningMethod) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A remembered token is refused when the clock passes its exp, as the
// first verification would refuse it, and is forgotten then.
func TestVerifiedTokenExpires(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	clock := t0
	v := testVerifier(&clock)
	tok := sign(t, jwt.MapClaims{"sub": "p-1", "aud": "cairn", "exp": t0.Add(time.Minute).Unix()}, testSecret, jwt.SigningMethodHS256)
	for _, at := range []time.Duration{0, 30 * time.Second, time.Minute + 4*time.Second} {
		clock = t0.Add(at)
		if c, err := v.verify(tok); err != nil || c.Subject != "p-1" {
			t.Fatalf("at +%v: %v, %v", at, c, err)
		}
	}
	if len(v.verified) != 1 {
		t.Fatalf("%d tokens remembered, want 1", len(v.verified))
	}
	clock = t0.Add(time.Minute + 5*time.Second) // exp plus the leeway
	if _, err := v.verify(tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("expired token: err = %v, want %v", err, jwt.ErrTokenExpired)
	}
	if len(v.verified) != 0 {
		t.Fatalf("the expired token is still remembered")
	}
}

// A token not valid yet is refused, and not remembered, until its nbf.
func TestTokenNotValidYet(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	clock := t0
	v := testVerifier(&clock)
	tok := sign(t, jwt.MapClaims{"sub": "p-1", "aud": "cairn", "nbf": t0.Add(time.Minute).Unix(), "exp": t0.Add(time.Hour).Unix()},
		testSecret, jwt.SigningMethodHS256)
	if _, err := v.verify(tok); !errors.Is(err, jwt.ErrTokenNotValidYet) {
		t.Fatalf("err = %v, want %v", err, jwt.ErrTokenNotValidYet)
	}
	if len(v.verified) != 0 {
		t.Fatalf("a token refused is remembered")
	}
	clock = t0.Add(time.Minute - 5*time.Second) // nbf less the leeway
	if _, err := v.verify(tok); err != nil {
		t.Fatal(err)
	}
}

// Tokens that fail verification are never remembered, and a forged token
// carrying a remembered token's claims is still refused.
func TestForgedTokensNotRemembered(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	clock := t0
	v := testVerifier(&clock)
	claims := jwt.MapClaims{"sub": "p-1", "aud": "cairn", "exp": t0.Add(time.Hour).Unix()}
	good := sign(t, claims, testSecret, jwt.SigningMethodHS256)
	if _, err := v.verify(good); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		forged := sign(t, jwt.MapClaims{"sub": "p-1", "aud": "cairn", "exp": t0.Add(time.Hour).Unix(), "n": i},
			[]byte("another-secret-of-at-least-32-bytes!!"), jwt.SigningMethodHS256)
		if _, err := v.verify(forged); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			t.Fatalf("forged token %d: err = %v, want %v", i, err, jwt.ErrTokenSignatureInvalid)
		}
	}
	if len(v.verified) != 1 {
		t.Fatalf("%d tokens remembered, want only the good one", len(v.verified))
	}
}

// The remembered tokens stay under maxVerifiedTokens however many valid
// tokens arrive, and the newest is remembered.
func TestVerifiedTokensBounded(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(1_800_000_000, 0)
	clock := t0
	v := testVerifier(&clock)
	var last string
	for i := range maxVerifiedTokens + 100 {
		last = sign(t, jwt.MapClaims{"sub": fmt.Sprintf("p-%d", i), "aud": "cairn", "exp": t0.Add(time.Hour).Unix()},
			testSecret, jwt.SigningMethodHS256)
		if _, err := v.verify(last); err != nil {
			t.Fatal(err)
		}
	}
	if len(v.verified) != maxVerifiedTokens {
		t.Fatalf("%d tokens remembered, want %d", len(v.verified), maxVerifiedTokens)
	}
	v.parser = nil // a remembered token is not parsed again
	if c, err := v.verify(last); err != nil || c.Subject != fmt.Sprintf("p-%d", maxVerifiedTokens+99) {
		t.Fatalf("newest token: %v, %v", c, err)
	}
}

// BenchmarkVerify measures a player's token check per call: the first
// (parse) and the calls after it (remembered), with ES256, which identity
// providers often use, and HS256 (cairn dev's).
func BenchmarkVerify(b *testing.B) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	claims := jwt.MapClaims{"sub": "0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d10", "aud": "cairn", "exp": time.Now().Add(time.Hour).Unix()}
	for _, alg := range []struct {
		name   string
		key    Key
		secret any
		method jwt.SigningMethod
	}{
		{"ES256", Key{Key: &ec.PublicKey}, ec, jwt.SigningMethodES256},
		{"HS256", Key{Key: testSecret}, testSecret, jwt.SigningMethodHS256},
	} {
		v := newJWTVerifier(JWTConfig{Keys: []Key{alg.key}, Audience: "cairn"})
		tok := sign(b, claims, alg.secret, alg.method)
		b.Run(alg.name+"/parse", func(b *testing.B) {
			for b.Loop() {
				if _, err := v.parse(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(alg.name+"/remembered", func(b *testing.B) {
			for b.Loop() {
				if _, err := v.verify(tok); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
