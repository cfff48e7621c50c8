package registry

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/cairnhq/cairn/registry/regclient"
)

// Role says what a principal may do through the REST API.
type Role string

// The REST API's roles.
const (
	// RoleReader may read: list, get, look up and check compatibility.
	RoleReader Role = "reader"
	// RoleSchemaOwner may also write: register, delete, and change
	// compatibility levels and modes.
	RoleSchemaOwner Role = "schema-owner"
)

// Principal is a client the REST API knows. It authenticates with HTTP
// basic (Username and Password), with a bearer API key (APIKey), or with
// either when both are set.
type Principal struct {
	// Name identifies the principal in logs; it is not a credential.
	Name     string
	Username string
	Password string
	APIKey   string
	Role     Role
}

func (p Principal) validate() error {
	switch {
	case p.Name == "":
		return errors.New("a principal has no name")
	case p.Role != RoleReader && p.Role != RoleSchemaOwner:
		return fmt.Errorf("principal %q: role %q is neither %q nor %q", p.Name, p.Role, RoleReader, RoleSchemaOwner)
	case p.Username == "" && p.Password == "" && p.APIKey == "":
		return fmt.Errorf("principal %q has no credentials", p.Name)
	case (p.Username == "") != (p.Password == ""):
		return fmt.Errorf("principal %q: basic credentials need both a username and a password", p.Name)
	case strings.Contains(p.Username, ":"):
		return fmt.Errorf("principal %q: a username cannot contain ':'", p.Name)
	}
	return nil
}

// access is what a route needs of its caller.
type access int

const (
	read access = iota
	write
)

// authenticator checks credentials against the configured principals. It
// keeps only digests of the secrets, and compares them in constant time
// with every principal's, so that neither a match nor its position shows in
// the time taken.
type authenticator struct {
	basic        []credential
	keys         []credential
	protectReads bool
}

type credential struct {
	digest    [sha256.Size]byte
	principal string
	role      Role
}

func newAuthenticator(principals []Principal, protectReads bool) *authenticator {
	if len(principals) == 0 {
		return nil
	}
	a := &authenticator{protectReads: protectReads}
	for _, p := range principals {
		if p.Username != "" {
			a.basic = append(a.basic, credential{basicDigest(p.Username, p.Password), p.Name, p.Role})
		}
		if p.APIKey != "" {
			a.keys = append(a.keys, credential{sha256.Sum256([]byte(p.APIKey)), p.Name, p.Role})
		}
	}
	return a
}

func basicDigest(username, password string) [sha256.Size]byte {
	return sha256.Sum256([]byte(username + ":" + password))
}

// authorize returns nil when the request may go on to a route that needs
// the given access, or the error to answer with. A nil authenticator lets
// everything through. Invalid credentials are refused even on open reads,
// so a misconfigured client learns of it at once.
func (a *authenticator) authorize(r *http.Request, need access) *regclient.Error {
	if a == nil {
		return nil
	}
	c, presented := a.identify(r)
	switch {
	case presented && c == nil:
		return regclient.Errorf(regclient.CodeUnauthorized, "Unauthorized: the credentials are not valid")
	case c == nil && (need == write || a.protectReads):
		return regclient.Errorf(regclient.CodeUnauthorized, "Unauthorized: this operation needs credentials")
	case need == write && c.role != RoleSchemaOwner:
		return regclient.Errorf(regclient.CodeForbidden, "Forbidden: principal %s may not change schemas or settings", c.principal)
	}
	return nil
}

// identify finds the principal whose credentials the request carries.
// presented says whether it carries any.
func (a *authenticator) identify(r *http.Request) (c *credential, presented bool) {
	header := r.Header.Get("Authorization")
	if header == "" {
		return nil, false
	}
	if user, pass, ok := r.BasicAuth(); ok {
		return match(a.basic, basicDigest(user, pass)), true
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return nil, true
	}
	return match(a.keys, sha256.Sum256([]byte(strings.TrimSpace(token)))), true
}

// match compares digest with every credential, without stopping early.
func match(creds []credential, digest [sha256.Size]byte) *credential {
	var found *credential
	for i := range creds {
		if subtle.ConstantTimeCompare(creds[i].digest[:], digest[:]) == 1 {
			found = &creds[i]
		}
	}
	return found
}
