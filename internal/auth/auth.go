// Package auth identifies the callers of Cairn's servers (the gateway, the
// hunt app's HuntService) with one interceptor that puts the principal in the
// call's context, and decides which event types each may publish.
//
// Players present a JWT as "authorization: Bearer <token>"; services present
// an API key as "x-api-key: <key>" or as a bearer token, or a client
// certificate over mTLS. Each becomes a Principal with a role, and a role
// lists the event types (names or path.Match patterns such as
// "cairn.hunt.v1.*") its principals may publish.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// Errors returned (wrapped) by Authenticate and Authorize. The text wrapped
// around them is written for the client.
var (
	ErrUnauthenticated  = errors.New("unauthenticated")
	ErrPermissionDenied = errors.New("permission denied")
)

// Kind tells players from services.
type Kind int

// The kinds of principal.
const (
	// Player is a person playing, identified by a JWT. Events naming an
	// actor must name the player.
	Player Kind = iota + 1
	// Service is a program, identified by an API key or a client certificate.
	Service
)

func (k Kind) String() string {
	switch k {
	case Player:
		return "player"
	case Service:
		return "service"
	}
	return "unknown"
}

// Principal is an authenticated caller.
type Principal struct {
	// ID names the caller for logs, headers and rate limits:
	// "player:<subject>", "key:<name>" or "cert:<name>".
	ID string
	// Kind says whether the caller is a player or a service.
	Kind Kind
	// Subject is the JWT's sub claim for a player, the key's or
	// certificate's configured name for a service.
	Subject string
	// Role decides which event types the caller may publish.
	Role string
	// Expires is when the caller's credentials stop being valid: a
	// player's token expiry; zero for services. A stream opened with them
	// ends then.
	Expires time.Time
}

// APIKey is a service's key.
type APIKey struct {
	// Key is the secret the service presents.
	Key string
	// Name identifies the service; the principal's ID is "key:<Name>".
	Name string
	// Role is the service's role.
	Role string
}

// Certificate maps a verified client certificate to a service.
type Certificate struct {
	// Name is matched against the certificate's subject common name, DNS
	// names and URIs; the principal's ID is "cert:<Name>".
	Name string
	// Role is the service's role.
	Role string
}

// Config says whom the gateway accepts and what each role may publish.
type Config struct {
	// JWT verifies players' tokens. With no keys, JWTs are not accepted.
	JWT JWTConfig
	// APIKeys are the services' keys.
	APIKeys []APIKey
	// Certificates are the services known by client certificate. The TLS
	// configuration (client CAs, ClientAuth) is the gRPC server's.
	Certificates []Certificate
	// Roles maps a role to the event types it may publish: full names such
	// as "cairn.hunt.v1.AnswerSubmitted" or path.Match patterns such as
	// "cairn.hunt.v1.*" or "*".
	Roles map[string][]string
}

// Validate reports what is wrong with c.
func (c *Config) Validate() error {
	var errs []error
	if err := c.JWT.validate(); err != nil {
		errs = append(errs, err)
	}
	roles := func(what, name, role string) {
		if _, ok := c.Roles[role]; !ok {
			errs = append(errs, fmt.Errorf("auth: %s %q has role %q, which Roles does not define", what, name, role))
		}
	}
	seen := make(map[string]bool)
	for _, k := range c.APIKeys {
		if len(k.Key) < 16 {
			errs = append(errs, fmt.Errorf("auth: API key %q is shorter than 16 characters", k.Name))
		}
		if k.Name == "" {
			errs = append(errs, errors.New("auth: an API key has no name"))
		}
		if seen[k.Key] {
			errs = append(errs, fmt.Errorf("auth: API key %q is given twice", k.Name))
		}
		seen[k.Key] = true
		roles("API key", k.Name, k.Role)
	}
	for _, cert := range c.Certificates {
		if cert.Name == "" {
			errs = append(errs, errors.New("auth: a certificate has no name"))
		}
		roles("certificate", cert.Name, cert.Role)
	}
	if len(c.JWT.Keys) > 0 {
		roles("JWT default role", "", c.JWT.defaultRole())
	}
	for role, patterns := range c.Roles {
		for _, p := range patterns {
			if _, err := path.Match(p, ""); err != nil {
				errs = append(errs, fmt.Errorf("auth: role %q: pattern %q: %w", role, p, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Authenticator identifies callers from a call's metadata and peer, and
// authorizes them by role.
//
// Authenticator is safe for concurrent use.
type Authenticator struct {
	jwt   *jwtVerifier
	keys  map[[sha256.Size]byte]APIKey
	certs map[string]Certificate
	roles map[string][]string
}

// New builds an authenticator from cfg.
func New(cfg Config) (*Authenticator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	a := &Authenticator{
		keys:  make(map[[sha256.Size]byte]APIKey, len(cfg.APIKeys)),
		certs: make(map[string]Certificate, len(cfg.Certificates)),
		roles: cfg.Roles,
	}
	if len(cfg.JWT.Keys) > 0 {
		a.jwt = newJWTVerifier(cfg.JWT)
	}
	for _, k := range cfg.APIKeys {
		// Looking keys up by hash keeps the comparison from leaking the
		// key through timing.
		a.keys[sha256.Sum256([]byte(k.Key))] = k
	}
	for _, c := range cfg.Certificates {
		a.certs[c.Name] = c
	}
	return a, nil
}

// MaxCredentialBytes bounds an API key or bearer token: a longer one is
// refused before it is parsed or hashed.
const MaxCredentialBytes = 8 << 10

// Authenticate identifies the caller of the call ctx belongs to: by the
// x-api-key metadata, else by the authorization bearer (a JWT if it looks
// like one, else an API key), else by a verified client certificate. It
// returns an error wrapping ErrUnauthenticated when none identifies a caller.
func (a *Authenticator) Authenticate(ctx context.Context) (*Principal, error) {
	// ValueFromIncomingContext reads a key without copying the metadata
	// (FromIncomingContext copies all of it, at every call).
	if keys := metadata.ValueFromIncomingContext(ctx, "x-api-key"); len(keys) > 0 {
		if len(keys[0]) > MaxCredentialBytes {
			return nil, fmt.Errorf("%w: x-api-key is %d bytes; credentials are at most %d", ErrUnauthenticated, len(keys[0]), MaxCredentialBytes)
		}
		return a.apiKey(keys[0])
	}
	if values := metadata.ValueFromIncomingContext(ctx, "authorization"); len(values) > 0 {
		if len(values[0]) > MaxCredentialBytes {
			return nil, fmt.Errorf("%w: authorization is %d bytes; credentials are at most %d", ErrUnauthenticated, len(values[0]), MaxCredentialBytes)
		}
		scheme, token, ok := strings.Cut(values[0], " ")
		if !ok || !strings.EqualFold(scheme, "bearer") || token == "" {
			return nil, fmt.Errorf("%w: authorization metadata must be \"Bearer <token>\"", ErrUnauthenticated)
		}
		token = strings.TrimSpace(token)
		if strings.Count(token, ".") == 2 {
			return a.player(token)
		}
		return a.apiKey(token)
	}
	if p, ok := a.certificate(ctx); ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w: no credentials: send a JWT as \"authorization: Bearer <token>\", an API key as \"x-api-key\", or a client certificate", ErrUnauthenticated)
}

func (a *Authenticator) apiKey(key string) (*Principal, error) {
	k, ok := a.keys[sha256.Sum256([]byte(key))]
	if !ok {
		return nil, fmt.Errorf("%w: unknown API key", ErrUnauthenticated)
	}
	return &Principal{ID: "key:" + k.Name, Kind: Service, Subject: k.Name, Role: k.Role}, nil
}

func (a *Authenticator) player(token string) (*Principal, error) {
	if a.jwt == nil {
		return nil, fmt.Errorf("%w: this gateway accepts no JWTs", ErrUnauthenticated)
	}
	c, err := a.jwt.verify(token)
	if err != nil {
		return nil, fmt.Errorf("%w: invalid token: %w", ErrUnauthenticated, err)
	}
	return &Principal{ID: "player:" + c.Subject, Kind: Player, Subject: c.Subject, Role: c.Role, Expires: c.ExpiresAt.Time}, nil
}

// certificate identifies a caller by a client certificate the TLS handshake
// verified.
func (a *Authenticator) certificate(ctx context.Context) (*Principal, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil, false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil, false
	}
	for _, name := range certNames(info.State.VerifiedChains[0][0]) {
		if c, ok := a.certs[name]; ok {
			return &Principal{ID: "cert:" + c.Name, Kind: Service, Subject: c.Name, Role: c.Role}, true
		}
	}
	return nil, false
}

func certNames(cert *x509.Certificate) []string {
	names := make([]string, 0, 1+len(cert.DNSNames)+len(cert.URIs))
	if cert.Subject.CommonName != "" {
		names = append(names, cert.Subject.CommonName)
	}
	names = append(names, cert.DNSNames...)
	for _, u := range cert.URIs {
		names = append(names, u.String())
	}
	return names
}

// Authorize returns an error wrapping ErrPermissionDenied unless p's role
// may publish events of the type named typeName.
func (a *Authenticator) Authorize(p *Principal, typeName string) error {
	for _, pattern := range a.roles[p.Role] {
		if ok, _ := path.Match(pattern, typeName); ok {
			return nil
		}
	}
	return fmt.Errorf("%w: %s (role %q) may not publish %s", ErrPermissionDenied, p.ID, p.Role, typeName)
}

// AuthorizeActor returns an error wrapping ErrPermissionDenied when p is a
// player and actor, the value of the event's actor field, is not p's
// subject: a player acts only as themself. Services may name any actor.
func AuthorizeActor(p *Principal, typeName, field, actor string) error {
	if p.Kind != Player || actor == p.Subject {
		return nil
	}
	return fmt.Errorf("%w: %s.%s must be the caller's own id (the token's subject)", ErrPermissionDenied, typeName, field)
}
