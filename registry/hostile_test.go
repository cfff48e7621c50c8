package registry_test

// Hostile requests against the registry (issue 9): each test sends what an
// attacker sent, checks it is refused with a precise error, and checks the
// registry keeps serving afterwards.

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// TestHostileImportIDAtTheTopOfInt32 registers, in IMPORT mode, a schema
// with the largest int32 id: it is kept, and later registrations (in
// IMPORT mode without an id, in READWRITE mode, and after a restart) still
// get ids, on both engines.
func TestHostileImportIDAtTheTopOfInt32(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		r := openOn(t, db)
		if _, err := r.SetMode(ctx, "", registry.ModeImport, true); err != nil {
			t.Fatal(err)
		}
		in := proto3("message Top { string id = 1; }")
		in.ID = math.MaxInt32
		if id, err := r.Register(ctx, "top", in); err != nil || id != math.MaxInt32 {
			t.Fatalf("import id MaxInt32: id %d, error %v", id, err)
		}
		next, err := r.Register(ctx, "after-import", proto3("message AfterImport { string id = 1; }"))
		if err != nil || next <= 0 || next == math.MaxInt32 {
			t.Fatalf("register after the import: id %d, error %v", next, err)
		}
		if _, err := r.SetMode(ctx, "", registry.ModeReadWrite, false); err != nil {
			t.Fatal(err)
		}
		if id, err := r.Register(ctx, "readwrite", proto3("message ReadWrite { string id = 1; }")); err != nil || id <= next {
			t.Fatalf("register in READWRITE: id %d, error %v", id, err)
		}
		r.Close()

		// A restart reads the store again: nothing in it is broken.
		r2 := openOn(t, db)
		defer r2.Close()
		if id, err := r2.Register(ctx, "restarted", proto3("message Restarted { string id = 1; }")); err != nil || id <= 0 || id == math.MaxInt32 {
			t.Fatalf("register after restart: id %d, error %v", id, err)
		}
		if sv, err := r2.Version(ctx, "top", -1, false); err != nil || sv.Schema.ID != math.MaxInt32 {
			t.Fatalf("imported version after restart: %+v, %v", sv, err)
		}
	})
}

// TestHostileOverflowedSequenceRecovers opens a store whose id sequence an
// import pushed past int32 (as stores written before the fix may be): the
// next registration gets an id within int32, on both engines.
func TestHostileOverflowedSequenceRecovers(t *testing.T) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		testOverflowedSequenceRecovers(t, sqldbtest.Open(t, engine))
	})
}

func testOverflowedSequenceRecovers(t *testing.T, db *sqldb.DB) {
	ctx := t.Context()
	r := openOn(t, db)
	defer r.Close()
	first, err := r.Register(ctx, "first", proto3(thingV1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetMode(ctx, "", registry.ModeImport, true); err != nil {
		t.Fatal(err)
	}
	in := proto3("message Top { string id = 1; }")
	in.ID = math.MaxInt32
	if _, err := r.Register(ctx, "top", in); err != nil {
		t.Fatal(err)
	}
	if _, err := r.SetMode(ctx, "", registry.ModeReadWrite, false); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE registry_ids SET next_id = 2147483648 WHERE name = 'schema'`); err != nil {
		t.Fatal(err)
	}
	id, err := r.Register(ctx, "after", proto3("message After { string id = 1; }"))
	if err != nil || id != first+1 {
		t.Fatalf("register on an overflowed sequence: id %d, error %v; want %d", id, err, first+1)
	}
}

// TestHostileImportIDsOutOfRange sends ids that are no int32 or not
// positive through the REST API: each is 422, and the registry keeps
// registering.
func TestHostileImportIDsOutOfRange(t *testing.T) {
	tr := newTestRegistry(t, registry.HandlerOptions{})
	mustOK(t, do(t, "PUT", tr.url()+"/mode", []byte(`{"mode": "IMPORT"}`)))
	text := quote("syntax = \"proto3\";\npackage p;\nmessage M { string id = 1; }\n")
	for _, id := range []string{"2147483648", "9223372036854775807", "-2", "-2147483648", "4294967296"} {
		body := fmt.Sprintf(`{"schema": %s, "schemaType": "PROTOBUF", "id": %s}`, text, id)
		resp := do(t, "POST", tr.url()+"/subjects/s/versions", []byte(body))
		if resp.status != http.StatusUnprocessableEntity || !strings.Contains(string(resp.body), "id") {
			t.Errorf("id %s: %d %s, want 422 naming the id", id, resp.status, resp.body)
		}
	}
	mustOK(t, do(t, "POST", tr.url()+"/subjects/s/versions", []byte(fmt.Sprintf(`{"schema": %s, "schemaType": "PROTOBUF", "id": 5}`, text))))
	mustOK(t, do(t, "PUT", tr.url()+"/mode", []byte(`{"mode": "READWRITE"}`)))
	mustOK(t, do(t, "POST", tr.url()+"/subjects/other/versions", schemaBody(t, plainProto)))
}

// TestHostileSubjectNotUTF8 names a subject with bytes that are not UTF-8,
// through REST and gRPC: each is refused, nothing is stored, and gRPC's
// ListSubjects keeps answering.
func TestHostileSubjectNotUTF8(t *testing.T) {
	t.Run("core", func(t *testing.T) {
		onEachEngine(t, func(t *testing.T, r *registry.Registry) {
			_, err := r.Register(t.Context(), "\xff\xfe", proto3(thingV1))
			wantCode(t, err, regclient.CodeInvalidSubject)
			_, err = r.SetCompatibility(t.Context(), "ok\xc0", "NONE")
			wantCode(t, err, regclient.CodeInvalidSubject)
			if got := r.Subjects(t.Context(), "", true); len(got) != 0 {
				t.Fatalf("subjects after refused registrations: %q", got)
			}
		})
	})
	t.Run("rest", func(t *testing.T) {
		tr := newTestRegistry(t, registry.HandlerOptions{})
		for _, path := range []string{"/subjects/%FF%FE/versions", "/subjects/a%C0%AF/versions"} {
			resp := do(t, "POST", tr.url()+path, schemaBody(t, plainProto))
			if resp.status != http.StatusUnprocessableEntity || resp.errorCode() != regclient.CodeInvalidSubject {
				t.Errorf("POST %s: %d %s, want 422 %d", path, resp.status, resp.body, regclient.CodeInvalidSubject)
			}
		}
		if got := string(mustOK(t, do(t, "GET", tr.url()+"/subjects?deleted=true", nil)).body); strings.TrimSpace(got) != "[]" {
			t.Fatalf("subjects: %s", got)
		}
	})
	t.Run("grpc", func(t *testing.T) {
		g := startGRPC(t)
		// A Go client cannot even encode such a string; the core refuses
		// it for any caller that could.
		_, err := g.client.Register(t.Context(), &registryv1.RegisterRequest{Subject: "\xff\xfe", Schema: &registryv1.SchemaInput{Text: plainProto}})
		if err == nil {
			t.Fatal("a subject that is not UTF-8 was registered")
		}
		_, err = g.core.Register(t.Context(), "\xff\xfe", regclient.SchemaInput{Text: plainProto})
		wantCode(t, err, regclient.CodeInvalidSubject)
		g.register(t, "plain.Ping", plainProto, nil)
		resp, err := g.client.ListSubjects(t.Context(), &registryv1.ListSubjectsRequest{IncludeDeleted: true})
		if err != nil || len(resp.GetSubjects()) != 1 {
			t.Fatalf("ListSubjects: %v, %v", resp.GetSubjects(), err)
		}
	})
}

// TestHostileSubjectNotUTF8AlreadyStored finds a subject that is not UTF-8
// in a store written before subjects were checked: gRPC's ListSubjects
// leaves it out rather than failing for every caller.
func TestHostileSubjectNotUTF8AlreadyStored(t *testing.T) {
	g := startGRPC(t)
	id := g.register(t, "plain.Ping", plainProto, nil)
	if _, err := g.db.ExecContext(t.Context(), `INSERT INTO registry_versions (subject, version, schema_id, deleted) VALUES ($1, 1, $2, FALSE)`, "\xff\xfe", id); err != nil {
		t.Fatal(err)
	}
	// The index follows the store every RefreshInterval (2 s here).
	deadline := time.Now().Add(20 * time.Second)
	for len(g.core.Subjects(t.Context(), "", false)) != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("core subjects: %q, want the stored two", g.core.Subjects(t.Context(), "", false))
		}
		time.Sleep(50 * time.Millisecond)
	}
	resp, err := g.client.ListSubjects(t.Context(), &registryv1.ListSubjectsRequest{})
	if err != nil {
		t.Fatalf("ListSubjects: %v", err)
	}
	if got := resp.GetSubjects(); len(got) != 1 || got[0] != "plain.Ping" {
		t.Fatalf("ListSubjects: %q, want only plain.Ping", got)
	}
}

// rulesProto declares a message with protovalidate rules; %s is replaced by
// the rules under test.
const rulesProto = `syntax = "proto3";
package rules.v1;
import "buf/validate/validate.proto";
message Answer {
  %s
}
`

// rulesInput is a rulesProto schema, with protovalidate's file registered
// in r as the reference it imports.
func rulesInput(t *testing.T, r *registry.Registry, body string) regclient.SchemaInput {
	t.Helper()
	if err := regclient.RegisterFiles(t.Context(), r, validate.File_buf_validate_validate_proto); err != nil {
		t.Fatal(err)
	}
	ref := regclient.Reference{Name: "buf/validate/validate.proto", Subject: "buf/validate/validate.proto", Version: 1}
	return regclient.SchemaInput{Type: regclient.TypeProtobuf, Text: fmt.Sprintf(rulesProto, body), References: []regclient.Reference{ref}}
}

// TestHostileRuleThatDoesNotCompile registers versions whose protovalidate
// rules do not compile: each is refused with 422 naming the rule id, the
// field and the CEL error, nothing is stored, and rules that compile are
// still accepted.
func TestHostileRuleThatDoesNotCompile(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		want       []string
	}{
		{"message rule", `option (buf.validate.message).cel = {id: "answer.broken", message: "m", expression: "this +"};
  string text = 1;`, []string{"answer.broken", "rules.v1.Answer", "Syntax error"}},
		{"field rule", `string text = 1 [(buf.validate.field).cel = {id: "text.typed", message: "m", expression: "this > 3"}];`,
			[]string{"text.typed", "rules.v1.Answer.text", "no matching overload"}},
		{"nested message's field rule", `message Inner { int64 n = 1 [(buf.validate.field).cel = {id: "inner.n", expression: "this.size() > 0"}]; }
  Inner inner = 1;`, []string{"inner.n", "rules.v1.Answer.Inner.n"}},
		{"standard rule of the wrong type", `int64 n = 1 [(buf.validate.field).string.min_len = 3];`, []string{"rules.v1.Answer.n"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := open(t, "sqlite")
			_, err := r.Register(t.Context(), "rules.v1.Answer", rulesInput(t, r, c.body))
			wantCode(t, err, regclient.CodeInvalidSchema)
			t.Logf("refused: %v", err)
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if _, err := r.Versions(t.Context(), "rules.v1.Answer", true); !regclient.IsNotFound(err) {
				t.Fatalf("versions after a refused rule: %v", err)
			}
			good := `string text = 1 [(buf.validate.field).cel = {id: "text.short", message: "too long", expression: "size(this) < 100"}];`
			if _, err := r.Register(t.Context(), "rules.v1.Answer", rulesInput(t, r, good)); err != nil {
				t.Fatalf("rules that compile: %v", err)
			}
		})
	}
	t.Run("rest", func(t *testing.T) {
		t.Parallel()
		tr := newTestRegistry(t, registry.HandlerOptions{})
		body := `option (buf.validate.message).cel = {id: "answer.broken", expression: "this +"};
  string text = 1;`
		in := rulesInput(t, tr.Registry, body)
		resp := do(t, "POST", tr.url()+"/subjects/rules.v1.Answer/versions", schemaBody(t, in.Text, in.References...))
		if resp.status != http.StatusUnprocessableEntity || resp.errorCode() != regclient.CodeInvalidSchema || !strings.Contains(string(resp.body), "answer.broken") {
			t.Fatalf("POST a rule that does not compile: %d %s", resp.status, resp.body)
		}
	})
}

// TestHostileSchemaTypeOmitted sends register, lookup and compatibility
// bodies without schemaType: Confluent's API reads that as AVRO, which
// this registry does not hold, so each is 422 saying so, even when the
// text is valid protobuf.
func TestHostileSchemaTypeOmitted(t *testing.T) {
	tr := newTestRegistry(t, registry.HandlerOptions{})
	mustOK(t, do(t, "POST", tr.url()+"/subjects/plain.Ping/versions", schemaBody(t, plainProto)))
	body := jsonBody(t, map[string]any{"schema": plainProto})
	for _, path := range []string{"/subjects/plain.Ping/versions", "/subjects/plain.Ping", "/compatibility/subjects/plain.Ping/versions/latest"} {
		resp := do(t, "POST", tr.url()+path, body)
		if resp.status != http.StatusUnprocessableEntity || resp.errorCode() != regclient.CodeInvalidSchema || !strings.Contains(string(resp.body), "AVRO") {
			t.Errorf("POST %s without schemaType: %d %s, want 422 saying AVRO is not supported", path, resp.status, resp.body)
		}
	}
	// gRPC's unspecified type is protobuf: its API has no AVRO.
	g := startGRPC(t)
	g.register(t, "plain.Ping", plainProto, nil)
}

// eventProto is an event whose options are %s.
const eventProto = `syntax = "proto3";
package game.v1;
import "cairn/options/v1/options.proto";
message AnswerSubmitted {
  option (cairn.options.v1.event) = {%s};
  string hunt_id = 1;
  string player_id = 2;
  string other_id = 3;
  string answer = 4;
}
`

// TestHostileEventOptionChange re-registers an event with one of its
// security options changed: refused as incompatible, naming the option,
// under every level but NONE; other changes stay compatible.
func TestHostileEventOptionChange(t *testing.T) {
	t.Parallel()
	const v1 = `topic: "game.events" key_field: "hunt_id" actor_field: "player_id"`
	changes := []struct{ name, options string }{
		{"actor_field", `topic: "game.events" key_field: "hunt_id"`},
		{"actor_field", `topic: "game.events" key_field: "hunt_id" actor_field: "other_id"`},
		{"topic", `topic: "game.nowhere" key_field: "hunt_id" actor_field: "player_id"`},
		{"key_field", `topic: "game.events" key_field: "other_id" actor_field: "player_id"`},
		{"derived", `topic: "game.events" key_field: "hunt_id" actor_field: "player_id" derived: true`},
	}
	r := open(t, "sqlite")
	ctx := t.Context()
	// The options proto is a reference, registered as the hunt's files are.
	if err := regclient.RegisterFiles(ctx, r, optionsv1.File_cairn_options_v1_options_proto); err != nil {
		t.Fatal(err)
	}
	refs := []regclient.Reference{{Name: "cairn/options/v1/options.proto", Subject: "cairn/options/v1/options.proto", Version: 1}}
	in := func(options string) regclient.SchemaInput {
		return regclient.SchemaInput{Type: regclient.TypeProtobuf, Text: fmt.Sprintf(eventProto, options), References: refs}
	}
	for i, level := range []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE"} {
		subject := fmt.Sprintf("game.v1.AnswerSubmitted-%d", i)
		if _, err := r.SetCompatibility(ctx, subject, level); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Register(ctx, subject, in(v1)); err != nil {
			t.Fatal(err)
		}
		for _, c := range changes {
			_, err := r.Register(ctx, subject, in(c.options))
			wantCode(t, err, regclient.CodeIncompatible)
			if !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), "EVENT_OPTION_CHANGED") {
				t.Errorf("%s, %s changed: %v does not name the option", level, c.name, err)
			}
			problems, err := r.CheckCompatibility(ctx, subject, -1, in(c.options))
			if err != nil || len(problems) == 0 {
				t.Errorf("%s, %s changed: check says %q, %v", level, c.name, problems, err)
			}
		}
		// The same options in another text are the same schema's options.
		if _, err := r.Register(ctx, subject, in(`actor_field: "player_id", key_field: "hunt_id", topic: "game.events"`)); err != nil {
			t.Errorf("%s: options reordered: %v", level, err)
		}
	}
	if _, err := r.SetCompatibility(ctx, "game.v1.AnswerSubmitted-none", "NONE"); err != nil {
		t.Fatal(err)
	}
	for _, options := range []string{v1, changes[0].options, changes[2].options} {
		if _, err := r.Register(ctx, "game.v1.AnswerSubmitted-none", in(options)); err != nil {
			t.Fatalf("NONE accepts any change: %v", err)
		}
	}
}
