package auth_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/cairnhq/cairn/internal/auth"
)

func TestRS256Player(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	a, err := auth.New(auth.Config{
		JWT:   auth.JWTConfig{Keys: []auth.Key{{ID: "rs", Key: &key.PublicKey}}, Audience: "cairn", Issuer: "https://id.example"},
		Roles: map[string][]string{"player": {"cairn.hunt.v1.*"}, "captain": {"*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	sign := func(iss, role string) string {
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"sub": "p-1", "aud": "cairn", "iss": iss, "role": role, "exp": time.Now().Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = "rs"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ctx := metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+sign("https://id.example", "")))
	p, err := a.Authenticate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID != "player:p-1" || p.Kind != auth.Player || p.Role != "player" {
		t.Errorf("principal = %+v", p)
	}
	if err := a.Authorize(p, "cairn.hunt.v1.AnswerSubmitted"); err != nil {
		t.Errorf("player may publish cairn.hunt.v1.*: %v", err)
	}
	if err := a.Authorize(p, "cairn.admin.v1.Reset"); !errors.Is(err, auth.ErrPermissionDenied) {
		t.Errorf("Authorize outside the pattern = %v", err)
	}
	if err := auth.AuthorizeActor(p, "T", "player_id", "p-2"); !errors.Is(err, auth.ErrPermissionDenied) {
		t.Errorf("AuthorizeActor of another player = %v", err)
	}
	ctx = metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+sign("https://id.example", "captain")))
	if p, err := a.Authenticate(ctx); err != nil || p.Role != "captain" {
		t.Errorf("token with a role claim = %+v, %v", p, err)
	}
	ctx = metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+sign("https://evil.example", "")))
	if _, err := a.Authenticate(ctx); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("wrong issuer = %v", err)
	}
	// An HS256 token "signed" with the RSA public key must not pass.
	pub := x509.MarshalPKCS1PublicKey(&key.PublicKey)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "p-1", "aud": "cairn", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(pub)
	ctx = metadata.NewIncomingContext(t.Context(), metadata.Pairs("authorization", "Bearer "+forged))
	if _, err := a.Authenticate(ctx); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("algorithm confusion = %v", err)
	}
}

func TestClientCertificate(t *testing.T) {
	t.Parallel()
	a, err := auth.New(auth.Config{
		Certificates: []auth.Certificate{{Name: "scorer.cairn.internal", Role: "service"}, {Name: "spiffe://cairn/relay", Role: "service"}},
		Roles:        map[string][]string{"service": {"*"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse("spiffe://cairn/relay")
	tests := []struct {
		name     string
		cert     *x509.Certificate
		verified bool
		want     string // principal ID, empty for none
	}{
		{"common name", &x509.Certificate{Subject: pkix.Name{CommonName: "scorer.cairn.internal"}}, true, "cert:scorer.cairn.internal"},
		{"DNS name", &x509.Certificate{DNSNames: []string{"x", "scorer.cairn.internal"}}, true, "cert:scorer.cairn.internal"},
		{"URI", &x509.Certificate{URIs: []*url.URL{u}}, true, "cert:spiffe://cairn/relay"},
		{"unknown name", &x509.Certificate{Subject: pkix.Name{CommonName: "who"}}, true, ""},
		{"unverified", &x509.Certificate{Subject: pkix.Name{CommonName: "scorer.cairn.internal"}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			state := tls.ConnectionState{PeerCertificates: []*x509.Certificate{tt.cert}}
			if tt.verified {
				state.VerifiedChains = [][]*x509.Certificate{{tt.cert}}
			}
			ctx := peer.NewContext(t.Context(), &peer.Peer{AuthInfo: credentials.TLSInfo{State: state}})
			p, err := a.Authenticate(ctx)
			switch {
			case tt.want == "" && !errors.Is(err, auth.ErrUnauthenticated):
				t.Errorf("Authenticate = %+v, %v; want unauthenticated", p, err)
			case tt.want != "" && (err != nil || p.ID != tt.want || p.Kind != auth.Service):
				t.Errorf("Authenticate = %+v, %v; want %s", p, err, tt.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	cfg := auth.Config{
		JWT:     auth.JWTConfig{Keys: []auth.Key{{Key: []byte("short")}, {Key: "a string"}}},
		APIKeys: []auth.APIKey{{Key: "tiny", Name: "x", Role: "nobody"}},
		Roles:   map[string][]string{"player": {"["}},
	}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("Validate = nil")
	}
	for _, want := range []string{"audience", "32 bytes", "unsupported key type", "shorter than 16", `role "nobody"`, `pattern "["`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v; want it to mention %q", err, want)
		}
	}
	dev := auth.DevConfig()
	if err := dev.Validate(); err != nil {
		t.Errorf("DevConfig: %v", err)
	}
}
