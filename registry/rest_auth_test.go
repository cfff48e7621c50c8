package registry_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/registry"
)

var principals = []registry.Principal{
	{Name: "ci", Username: "ci", Password: "owner-secret", Role: registry.RoleSchemaOwner},
	{Name: "dashboard", Username: "dash", Password: "reader-secret", Role: registry.RoleReader},
	{Name: "deployer", APIKey: "owner-api-key", Role: registry.RoleSchemaOwner},
	{Name: "consumer", APIKey: "reader-api-key", Role: registry.RoleReader},
}

func basic(user, pass string) []string {
	return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
}

func bearer(key string) []string {
	return []string{"Authorization", "Bearer " + key}
}

// TestRESTAuth checks who may read and write, with reads open and closed.
func TestRESTAuth(t *testing.T) {
	t.Parallel()
	var (
		none        []string
		owner       = basic("ci", "owner-secret")
		reader      = basic("dash", "reader-secret")
		ownerKey    = bearer("owner-api-key")
		readerKey   = bearer("reader-api-key")
		badPassword = basic("ci", "reader-secret")
		badUser     = basic("nobody", "owner-secret")
		badKey      = bearer("owner-api-key-2")
		badScheme   = []string{"Authorization", "Digest username=ci"}
		swapped     = bearer("owner-secret")
	)
	type attempt struct {
		creds        []string
		status, code int
	}
	for _, protectReads := range []bool{false, true} {
		t.Run(map[bool]string{false: "open reads", true: "protected reads"}[protectReads], func(t *testing.T) {
			t.Parallel()
			tr := newTestRegistry(t, registry.HandlerOptions{Principals: principals, ProtectReads: protectReads})
			write := func(creds []string) response {
				return do(t, "POST", tr.url()+"/subjects/plain-value/versions", schemaBody(t, plainProto), creds...)
			}
			// Refused writes change nothing.
			for _, a := range []attempt{
				{none, 401, 40101},
				{badPassword, 401, 40101},
				{badUser, 401, 40101},
				{badKey, 401, 40101},
				{badScheme, 401, 40101},
				{swapped, 401, 40101},
				{reader, 403, 40301},
				{readerKey, 403, 40301},
			} {
				r := write(a.creds)
				if r.status != a.status || r.errorCode() != a.code {
					t.Errorf("register with %q: %d %s, want %d %d", a.creds, r.status, r.body, a.status, a.code)
				}
				if a.status == 401 && r.header.Get("WWW-Authenticate") != `Basic realm="cairn-registry"` {
					t.Errorf("401 without a challenge: %q", r.header.Get("WWW-Authenticate"))
				}
				if got := tr.Subjects(t.Context(), "", true); len(got) != 0 {
					t.Fatalf("a refused write registered %q", got)
				}
			}
			mustOK(t, write(owner))
			mustOK(t, write(ownerKey))

			// Reads, lookups and compatibility checks included.
			reads := []struct {
				method, path string
				body         []byte
			}{
				{"GET", "/subjects?deleted=true", nil},
				{"GET", "/schemas/ids/1", nil},
				{"POST", "/subjects/plain-value?deleted=true", schemaBody(t, plainProto)},
				{"POST", "/compatibility/subjects/plain-value/versions/latest", schemaBody(t, plainProto)},
			}
			for _, rd := range reads {
				for _, creds := range [][]string{owner, reader, ownerKey, readerKey} {
					mustOK(t, do(t, rd.method, tr.url()+rd.path, rd.body, creds...))
				}
				r := do(t, rd.method, tr.url()+rd.path, rd.body)
				if protectReads && (r.status != 401 || r.errorCode() != 40101) {
					t.Errorf("%s %s without credentials, reads protected: %d %s", rd.method, rd.path, r.status, r.body)
				}
				if !protectReads && r.status != 200 {
					t.Errorf("%s %s without credentials, reads open: %d %s", rd.method, rd.path, r.status, r.body)
				}
				if r := do(t, rd.method, tr.url()+rd.path, rd.body, badPassword...); r.status != 401 {
					t.Errorf("%s %s with a wrong password: %d %s", rd.method, rd.path, r.status, r.body)
				}
			}

			// Every kind of write needs an owner.
			writes := []struct {
				method, path string
				body         []byte
			}{
				{"PUT", "/config", []byte(`{"compatibility":"NONE"}`)},
				{"PUT", "/config/plain-value", []byte(`{"compatibility":"NONE"}`)},
				{"DELETE", "/config", nil},
				{"PUT", "/mode/plain-value", []byte(`{"mode":"READONLY"}`)},
				{"DELETE", "/mode/plain-value", nil},
				{"DELETE", "/subjects/plain-value", nil},
				{"DELETE", "/subjects/plain-value/versions/1?permanent=true", nil},
			}
			for _, w := range writes {
				if r := do(t, w.method, tr.url()+w.path, w.body, reader...); r.status != 403 || r.errorCode() != 40301 {
					t.Errorf("%s %s as a reader: %d %s", w.method, w.path, r.status, r.body)
				}
				if r := do(t, w.method, tr.url()+w.path, w.body); r.status != 401 || r.errorCode() != 40101 {
					t.Errorf("%s %s without credentials: %d %s", w.method, w.path, r.status, r.body)
				}
			}
			if r := do(t, "GET", tr.url()+"/config", nil, owner...); !sameJSON(t, r.body, []byte(`{"compatibilityLevel":"BACKWARD"}`)) {
				t.Errorf("refused config writes changed it: %s", r.body)
			}
			for _, w := range writes {
				mustOK(t, do(t, w.method, tr.url()+w.path, w.body, ownerKey...))
			}

			// Neither secrets nor bodies reach the logs.
			logs := tr.logs.String()
			for _, secret := range []string{"owner-secret", "reader-secret", "owner-api-key", "reader-api-key", "Basic ", "package plain"} {
				if strings.Contains(logs, secret) {
					t.Errorf("the logs hold %q", secret)
				}
			}
			if !strings.Contains(logs, "status=403") || !strings.Contains(logs, "path=/subjects/plain-value/versions") {
				t.Errorf("requests were not logged:\n%s", logs)
			}
		})
	}
}

// TestRESTOpenWithoutPrincipals checks that without principals anything
// goes, credentials or not.
func TestRESTOpenWithoutPrincipals(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	for _, creds := range [][]string{nil, basic("anyone", "anything"), bearer("whatever")} {
		mustOK(t, do(t, "POST", tr.url()+"/subjects/plain-value/versions", schemaBody(t, plainProto), creds...))
		if r := do(t, "PUT", tr.url()+"/config", []byte(`{"compatibility":"FULL"}`), creds...); r.status != http.StatusOK {
			t.Errorf("open config write with %q: %d %s", creds, r.status, r.body)
		}
	}
}
