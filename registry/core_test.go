package registry_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

func open(t testing.TB, engine sqldb.Engine) *registry.Registry {
	t.Helper()
	r := openOn(t, sqldbtest.Open(t, engine))
	t.Cleanup(r.Close)
	return r
}

// openOn opens a registry on db, which the caller closes: tests of what
// survives a restart open one db twice.
func openOn(t testing.TB, db *sqldb.DB) *registry.Registry {
	t.Helper()
	r, err := registry.Open(context.Background(), registry.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// onEachEngine runs a store test on SQLite and on PostgreSQL.
func onEachEngine(t *testing.T, test func(t *testing.T, r *registry.Registry)) {
	t.Helper()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		test(t, open(t, engine))
	})
}

// wantCode fails unless err is a registry error with the code.
func wantCode(t *testing.T, err error, code int) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want code %d", code)
	}
	if got := registry.AsError(err).Code; got != code {
		t.Fatalf("error %v has code %d, want %d", err, got, code)
	}
}

func proto3(body string) regclient.SchemaInput {
	return regclient.SchemaInput{Text: "syntax = \"proto3\";\npackage test.v1;\n" + body}
}

const (
	thingV1    = "message Thing { string id = 1; }"
	thingV2    = "message Thing { string id = 1; int64 count = 2; }"
	thingBreak = "message Thing { string id = 1; string count = 2; }"
)

func TestRegisterHuntFilesAndResolve(t *testing.T) {
	t.Parallel()
	onEachEngine(t, func(t *testing.T, r *registry.Registry) {
		ctx := t.Context()
		files, err := schemas.Hunt()
		if err != nil {
			t.Fatal(err)
		}
		if err := regclient.RegisterFiles(ctx, r, files...); err != nil {
			t.Fatal(err)
		}
		subjects := r.Subjects(ctx, "", false)
		for _, want := range []string{"buf/validate/validate.proto", "cairn/options/v1/options.proto", "cairn/hunt/v1/types.proto", "cairn.hunt.v1.AnswerSubmitted"} {
			if !slices.Contains(subjects, want) {
				t.Errorf("subjects %v lack %s", subjects, want)
			}
		}
		c := regclient.NewClient(r, 0)
		tests := []struct{ name, topic, key, actor string }{
			{"cairn.hunt.v1.PlayerRegistered", "cairn.player.events", "player_id", "player_id"},
			{"cairn.hunt.v1.HuntCreated", "cairn.hunt.events", "hunt_id", ""},
			{"cairn.hunt.v1.PlayerJoinedHunt", "cairn.hunt.events", "hunt_id", "player_id"},
			{"cairn.hunt.v1.AnswerSubmitted", "cairn.hunt.events", "hunt_id", "player_id"},
			{"cairn.hunt.v1.ClueUnlocked", "cairn.hunt.derived", "hunt_id", ""},
			{"cairn.hunt.v1.AnswerJudged", "cairn.hunt.derived", "hunt_id", ""},
			{"cairn.hunt.v1.HuntCompleted", "cairn.hunt.derived", "hunt_id", ""},
		}
		ids := make(map[int32]string)
		for _, tt := range tests {
			typ, err := c.Resolve(ctx, protoreflect.FullName(tt.name))
			if err != nil {
				t.Fatalf("Resolve(%s): %v", tt.name, err)
			}
			if typ.Event.GetTopic() != tt.topic || string(typ.KeyField().Name()) != tt.key {
				t.Errorf("%s: topic %q key %q, want %q, %q", tt.name, typ.Event.GetTopic(), typ.KeyField().Name(), tt.topic, tt.key)
			}
			if actor := typ.ActorField(); (actor == nil) != (tt.actor == "") || actor != nil && string(actor.Name()) != tt.actor {
				t.Errorf("%s: actor field %v, want %q", tt.name, actor, tt.actor)
			}
			if !slices.Equal(typ.Indexes, []int{0}) || typ.Subject != tt.name {
				t.Errorf("%s: indexes %v subject %q, want [0] and the type name", tt.name, typ.Indexes, typ.Subject)
			}
			if other, dup := ids[typ.SchemaID]; dup {
				t.Errorf("%s and %s share schema id %d", tt.name, other, typ.SchemaID)
			}
			ids[typ.SchemaID] = tt.name
			back, err := c.ResolveID(ctx, typ.SchemaID, typ.Indexes)
			if err != nil || back.Name() != typ.Name() {
				t.Errorf("ResolveID(%d, %v) = %v, %v; want %s", typ.SchemaID, typ.Indexes, back, err, tt.name)
			}
		}
		// The schema text keeps the comments of the .proto files.
		sv, err := r.Version(ctx, "cairn.hunt.v1.AnswerSubmitted", -1, false)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(sv.Schema.Text, "AnswerSubmitted: a player answered a clue") {
			t.Errorf("registered text lost its comments:\n%s", sv.Schema.Text)
		}
		// Registering the same files again changes nothing.
		before := r.Subjects(ctx, "", true)
		if err := regclient.RegisterFiles(ctx, r, files...); err != nil {
			t.Fatal(err)
		}
		for _, s := range before {
			if vs, _ := r.Versions(ctx, s, true); len(vs) != 1 {
				t.Errorf("subject %s has versions %v after registering twice", s, vs)
			}
		}
		// Unknown names and ids.
		if _, err := c.Resolve(ctx, "cairn.hunt.v1.Nope"); !regclient.IsNotFound(err) {
			t.Errorf("Resolve(unknown) = %v, want not found", err)
		}
		if _, err := c.ResolveID(ctx, 9999, []int{0}); !regclient.IsNotFound(err) {
			t.Errorf("ResolveID(9999) = %v, want not found", err)
		}
	})
}

func TestSchemaLifecycle(t *testing.T) {
	t.Parallel()
	onEachEngine(t, func(t *testing.T, r *registry.Registry) {
		ctx := t.Context()
		id1, err := r.Register(ctx, "s", proto3(thingV1))
		if err != nil {
			t.Fatal(err)
		}
		// Identical content, differently formatted: the same schema.
		again, err := r.Register(ctx, "s", proto3("message Thing {\n  string id = 1;\n}\n"))
		if err != nil || again != id1 {
			t.Fatalf("re-register = %d, %v; want %d", again, err, id1)
		}
		other, err := r.Register(ctx, "s2", proto3(thingV1))
		if err != nil || other != id1 {
			t.Fatalf("same schema under another subject = %d, %v; want %d", other, err, id1)
		}
		id2, err := r.Register(ctx, "s", proto3(thingV2))
		if err != nil || id2 == id1 {
			t.Fatalf("compatible v2 = %d, %v", id2, err)
		}
		_, err = r.Register(ctx, "s", proto3(thingBreak))
		wantCode(t, err, regclient.CodeIncompatible)
		if !strings.Contains(err.Error(), "FIELD_SCALAR_KIND_CHANGED #/Thing/2") {
			t.Errorf("409 message %q does not name the change and its path", err)
		}
		if vs, _ := r.Versions(ctx, "s", false); !slices.Equal(vs, []int{1, 2}) {
			t.Fatalf("versions after a refused registration = %v, want [1 2]", vs)
		}
		sv, err := r.LookUp(ctx, "s", proto3(thingV2), false)
		if err != nil || sv.Version != 2 || sv.Schema.ID != id2 {
			t.Fatalf("LookUp = %+v, %v", sv, err)
		}
		_, err = r.LookUp(ctx, "s", proto3("message Other { string x = 1; }"), false)
		wantCode(t, err, regclient.CodeSchemaNotFound)
		_, err = r.LookUp(ctx, "nope", proto3(thingV1), false)
		wantCode(t, err, regclient.CodeSubjectNotFound)

		// Soft, then permanent, delete of one version.
		_, err = r.DeleteVersion(ctx, "s", 2, true)
		wantCode(t, err, regclient.CodeVersionNotSoftDeleted)
		if v, err := r.DeleteVersion(ctx, "s", 2, false); err != nil || v != 2 {
			t.Fatalf("soft delete v2 = %d, %v", v, err)
		}
		_, err = r.DeleteVersion(ctx, "s", 2, false)
		wantCode(t, err, regclient.CodeVersionSoftDeleted)
		if vs, _ := r.Versions(ctx, "s", false); !slices.Equal(vs, []int{1}) {
			t.Errorf("live versions = %v, want [1]", vs)
		}
		if vs, _ := r.Versions(ctx, "s", true); !slices.Equal(vs, []int{1, 2}) {
			t.Errorf("all versions = %v, want [1 2]", vs)
		}
		_, err = r.Version(ctx, "s", 2, false)
		wantCode(t, err, regclient.CodeVersionNotFound)
		if _, err := r.SchemaByID(ctx, id2); err != nil {
			t.Errorf("a soft-deleted version's schema is gone: %v", err)
		}
		if v, err := r.DeleteVersion(ctx, "s", 2, true); err != nil || v != 2 {
			t.Fatalf("permanent delete v2 = %d, %v", v, err)
		}
		_, err = r.SchemaByID(ctx, id2)
		wantCode(t, err, regclient.CodeSchemaNotFound)

		// Soft, then permanent, delete of the subject.
		_, err = r.DeleteSubject(ctx, "s", true)
		wantCode(t, err, regclient.CodeSubjectNotSoftDeleted)
		if vs, err := r.DeleteSubject(ctx, "s", false); err != nil || !slices.Equal(vs, []int{1}) {
			t.Fatalf("soft delete subject = %v, %v", vs, err)
		}
		_, err = r.DeleteSubject(ctx, "s", false)
		wantCode(t, err, regclient.CodeSubjectSoftDeleted)
		if got := r.Subjects(ctx, "", false); !slices.Equal(got, []string{"s2"}) {
			t.Errorf("subjects = %v, want [s2]", got)
		}
		if got := r.Subjects(ctx, "", true); !slices.Equal(got, []string{"s", "s2"}) {
			t.Errorf("subjects with deleted = %v, want [s s2]", got)
		}
		if _, err := r.DeleteSubject(ctx, "s", true); err != nil {
			t.Fatal(err)
		}
		_, err = r.Versions(ctx, "s", true)
		wantCode(t, err, regclient.CodeSubjectNotFound)
		if _, err := r.SchemaByID(ctx, id1); err != nil {
			t.Errorf("schema %d, still used by s2, is gone: %v", id1, err)
		}

		// Ids are never reused: a new schema gets a new id even though the
		// highest one was permanently deleted.
		id3, err := r.Register(ctx, "s", proto3("message Fresh { string id = 1; }"))
		if err != nil || id3 <= id2 {
			t.Fatalf("new schema after permanent delete = %d, %v; want an id above %d", id3, err, id2)
		}
		_, err = r.DeleteSubject(ctx, "never", false)
		wantCode(t, err, regclient.CodeSubjectNotFound)
	})
}

func TestReferences(t *testing.T) {
	t.Parallel()
	onEachEngine(t, func(t *testing.T, r *registry.Registry) {
		ctx := t.Context()
		common := regclient.SchemaInput{Text: "syntax = \"proto3\";\npackage deps.v1;\nmessage Point { double x = 1; double y = 2; }\n"}
		depID, err := r.Register(ctx, "deps/common.proto", common)
		if err != nil {
			t.Fatal(err)
		}
		main := regclient.SchemaInput{
			Text:       "syntax = \"proto3\";\npackage test.v1;\nimport \"deps/common.proto\";\nimport \"google/protobuf/timestamp.proto\";\nmessage Place { deps.v1.Point at = 1; google.protobuf.Timestamp seen = 2; }\n",
			References: []regclient.Reference{{Name: "deps/common.proto", Subject: "deps/common.proto", Version: 1}},
		}
		id, err := r.Register(ctx, "test.v1.Place", main)
		if err != nil {
			t.Fatal(err)
		}
		if id == depID {
			t.Fatal("the schema and its reference share an id")
		}
		if ids, err := r.ReferencedBy(ctx, "deps/common.proto", 1); err != nil || !slices.Equal(ids, []int32{id}) {
			t.Errorf("ReferencedBy = %v, %v; want [%d]", ids, err, id)
		}
		_, err = r.DeleteSubject(ctx, "deps/common.proto", false)
		wantCode(t, err, regclient.CodeReferenceExists)
		_, err = r.DeleteVersion(ctx, "deps/common.proto", 1, false)
		wantCode(t, err, regclient.CodeReferenceExists)

		c := regclient.NewClient(r, 0)
		typ, err := c.Resolve(ctx, "test.v1.Place")
		if err != nil {
			t.Fatal(err)
		}
		if got := typ.Descriptor.Fields().ByName("at").Message().FullName(); got != "deps.v1.Point" {
			t.Errorf("field at has type %s", got)
		}

		noRef := main
		noRef.References = nil
		_, err = r.Register(ctx, "test.v1.Other", noRef)
		wantCode(t, err, regclient.CodeInvalidSchema)
		badRef := main
		badRef.References = []regclient.Reference{{Name: "deps/common.proto", Subject: "deps/common.proto", Version: 7}}
		_, err = r.Register(ctx, "test.v1.Other", badRef)
		wantCode(t, err, regclient.CodeInvalidSchema)
		if got := r.Subjects(ctx, "test.v1.Other", true); len(got) != 0 {
			t.Errorf("a refused registration left subject %v", got)
		}
	})
}

func TestInvalidInput(t *testing.T) {
	t.Parallel()
	r := open(t, sqldb.SQLite)
	ctx := t.Context()
	tests := []struct {
		name    string
		subject string
		in      regclient.SchemaInput
		code    int
		want    string
	}{
		{"syntax error", "s", proto3("message { }"), regclient.CodeInvalidSchema, "syntax error"},
		{"unknown type", "s", proto3("message A { Nope b = 1; }"), regclient.CodeInvalidSchema, "Nope"},
		{"empty", "s", regclient.SchemaInput{}, regclient.CodeInvalidSchema, "empty"},
		{"avro", "s", regclient.SchemaInput{Type: "AVRO", Text: `{"type": "string"}`}, regclient.CodeInvalidSchema, "PROTOBUF"},
		{"bad base64 descriptor", "s", regclient.SchemaInput{Text: "Zm9vYmFy"}, regclient.CodeInvalidSchema, "invalid schema"},
		{"empty subject", "", proto3(thingV1), regclient.CodeInvalidSubject, "Invalid subject"},
		{"control characters", "a\nb", proto3(thingV1), regclient.CodeInvalidSubject, "Invalid subject"},
		{"reference without name", "s", regclient.SchemaInput{Text: proto3(thingV1).Text, References: []regclient.Reference{{Subject: "x", Version: 1}}}, regclient.CodeInvalidSchema, "no name"},
		{"id outside import mode", "s", regclient.SchemaInput{Text: proto3(thingV1).Text, ID: 5}, regclient.CodeOperationNotPermitted, "import mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Register(ctx, tt.subject, tt.in)
			wantCode(t, err, tt.code)
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
	if got := r.Subjects(ctx, "", true); len(got) != 0 {
		t.Errorf("refused registrations left subjects %v", got)
	}
	for _, v := range []string{"0", "x", "1.5", "-2", "01", ""} {
		if _, err := registry.ParseVersion(v); registry.AsError(err).Code != regclient.CodeInvalidVersion {
			t.Errorf("ParseVersion(%q) = %v, want 42202", v, err)
		}
	}
	for v, want := range map[string]int{"latest": -1, "-1": -1, "3": 3} {
		if got, err := registry.ParseVersion(v); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
}

func TestSettings(t *testing.T) {
	t.Parallel()
	onEachEngine(t, func(t *testing.T, r *registry.Registry) {
		ctx := t.Context()
		if l, _ := r.Compatibility(ctx, "", true); l != "BACKWARD" {
			t.Errorf("default level = %s", l)
		}
		if l, err := r.SetCompatibility(ctx, "", "full"); err != nil || l != "FULL" {
			t.Fatalf("SetCompatibility = %s, %v", l, err)
		}
		_, err := r.Compatibility(ctx, "s", false)
		wantCode(t, err, regclient.CodeSubjectConfigNotFound)
		if l, _ := r.Compatibility(ctx, "s", true); l != "FULL" {
			t.Errorf("subject level defaulting to global = %s, want FULL", l)
		}
		_, err = r.SetCompatibility(ctx, "s", "SIDEWAYS")
		wantCode(t, err, regclient.CodeInvalidCompatibility)

		if _, err := r.Register(ctx, "s", proto3(thingV2)); err != nil {
			t.Fatal(err)
		}
		_, err = r.Register(ctx, "s", proto3(thingBreak))
		wantCode(t, err, regclient.CodeIncompatible)
		if _, err := r.SetCompatibility(ctx, "s", "NONE"); err != nil {
			t.Fatal(err)
		}
		if _, err := r.Register(ctx, "s", proto3(thingBreak)); err != nil {
			t.Fatalf("register under NONE: %v", err)
		}
		if prev, err := r.DeleteConfig(ctx, "s"); err != nil || prev.Compatibility != "NONE" {
			t.Errorf("DeleteConfig = %+v, %v", prev, err)
		}
		msgs, err := r.CheckCompatibility(ctx, "s", -1, proto3("message Thing { string id = 1; int64 count = 2; }"))
		if err != nil || len(msgs) == 0 {
			t.Errorf("CheckCompatibility of a breaking change = %v, %v", msgs, err)
		}

		_, err = r.SetMode(ctx, "", "SOMETIMES", false)
		wantCode(t, err, regclient.CodeInvalidMode)
		if _, err := r.SetMode(ctx, "s", "readonly", false); err != nil {
			t.Fatal(err)
		}
		_, err = r.Register(ctx, "s", proto3("message Thing { string id = 1; bytes more = 3; }"))
		wantCode(t, err, regclient.CodeOperationNotPermitted)
		_, err = r.DeleteSubject(ctx, "s", false)
		wantCode(t, err, regclient.CodeOperationNotPermitted)
		if _, err := r.DeleteMode(ctx, "s"); err != nil {
			t.Fatal(err)
		}

		// IMPORT on a registry holding versions needs force, as in
		// Confluent; a subject without versions does not.
		_, err = r.SetMode(ctx, "", "IMPORT", false)
		wantCode(t, err, regclient.CodeOperationNotPermitted)
		_, err = r.SetMode(ctx, "s", "IMPORT", false)
		wantCode(t, err, regclient.CodeOperationNotPermitted)
		if m, err := r.Mode(ctx, "", false); err != nil || m != "READWRITE" {
			t.Errorf("global mode after a refused IMPORT = %s, %v", m, err)
		}
		if _, err := r.SetMode(ctx, "empty", "IMPORT", false); err != nil {
			t.Errorf("IMPORT on a subject without versions: %v", err)
		}
		if _, err := r.DeleteMode(ctx, "empty"); err != nil {
			t.Fatal(err)
		}

		// IMPORT keeps another registry's ids, and new ids stay above them.
		if _, err := r.SetMode(ctx, "", "IMPORT", true); err != nil {
			t.Fatal(err)
		}
		in := proto3("message Imported { string id = 1; }")
		in.ID, in.Version = 100, 4
		if id, err := r.Register(ctx, "imported", in); err != nil || id != 100 {
			t.Fatalf("import = %d, %v", id, err)
		}
		if vs, _ := r.Versions(ctx, "imported", false); !slices.Equal(vs, []int{4}) {
			t.Errorf("imported versions = %v, want [4]", vs)
		}
		if _, err := r.SetMode(ctx, "", "READWRITE", false); err != nil {
			t.Fatal(err)
		}
		if id, err := r.Register(ctx, "next", proto3("message Next { string id = 1; }")); err != nil || id <= 100 {
			t.Errorf("next id after import = %d, %v; want above 100", id, err)
		}
	})
}

// TestInstancesShareDatabase: what one instance registers, another serves.
func TestInstancesShareDatabase(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		db := sqldbtest.Open(t, engine)
		a, err := registry.Open(t.Context(), registry.Options{DB: db})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := registry.Open(t.Context(), registry.Options{DB: db})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		id, err := a.Register(t.Context(), "shared", proto3(thingV1))
		if err != nil {
			t.Fatal(err)
		}
		// The other instance sees it at its next refresh, or at once on a
		// miss once its last refresh is a moment old.
		deadline := time.Now().Add(5 * time.Second)
		for {
			sv, err := b.Version(t.Context(), "shared", -1, false)
			if err == nil && sv.Schema.ID == id {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("other instance: %+v, %v", sv, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Concurrent registrations of distinct schemas get distinct ids
		// and versions.
		errs := make(chan error, 2)
		for i, reg := range []*registry.Registry{a, b} {
			go func() {
				_, err := reg.Register(t.Context(), "race", proto3(fmt.Sprintf("message Race%d { string id = 1; }", i)))
				errs <- err
			}()
		}
		for range 2 {
			if err := <-errs; err != nil && registry.AsError(err).Code != regclient.CodeIncompatible {
				t.Errorf("concurrent register: %v", err)
			}
		}
	})
}

// TestInstancesCheckWhatTheStoreHolds: an instance whose index is behind
// the store still checks a registration against every stored version.
func TestInstancesCheckWhatTheStoreHolds(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		db := sqldbtest.Open(t, engine)
		// Long refresh intervals: b learns only by looking.
		a, err := registry.Open(t.Context(), registry.Options{DB: db, RefreshInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := registry.Open(t.Context(), registry.Options{DB: db, RefreshInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx := t.Context()
		if _, err := a.Register(ctx, "s", proto3(thingV1)); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Register(ctx, "s", proto3(thingV2)); err != nil {
			t.Fatal(err)
		}
		_, err = b.Register(ctx, "s", proto3(thingBreak))
		wantCode(t, err, regclient.CodeIncompatible)
		if _, err := b.Register(ctx, "s", proto3(thingV2)); err != nil {
			t.Fatal(err)
		}
		if vs, _ := a.Versions(ctx, "s", true); !slices.Equal(vs, []int{1, 2}) {
			t.Errorf("versions = %v, want [1 2]: the same schema registered through two instances is one version", vs)
		}
	})
}

func TestImportedIDsBelowTheHighest(t *testing.T) {
	t.Parallel()
	r := open(t, sqldb.SQLite)
	ctx := t.Context()
	if _, err := r.SetMode(ctx, "", "IMPORT", false); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int32{100, 5} {
		in := proto3(fmt.Sprintf("message M%d { string id = 1; }", id))
		in.ID = id
		if got, err := r.Register(ctx, fmt.Sprintf("imported-%d", id), in); err != nil || got != id {
			t.Fatalf("import %d = %d, %v", id, got, err)
		}
		if _, err := r.SchemaByID(ctx, id); err != nil {
			t.Errorf("schema %d after import: %v", id, err)
		}
	}
}

func TestPermanentDeleteKeepsWhatSoftDeletedSchemasReference(t *testing.T) {
	t.Parallel()
	r := open(t, sqldb.SQLite)
	ctx := t.Context()
	common := regclient.SchemaInput{Text: "syntax = \"proto3\";\npackage deps.v1;\nmessage Point { double x = 1; }\n"}
	if _, err := r.Register(ctx, "deps/common.proto", common); err != nil {
		t.Fatal(err)
	}
	main := regclient.SchemaInput{
		Text:       "syntax = \"proto3\";\npackage test.v1;\nimport \"deps/common.proto\";\nmessage Place { deps.v1.Point at = 1; }\n",
		References: []regclient.Reference{{Name: "deps/common.proto", Subject: "deps/common.proto", Version: 1}},
	}
	if _, err := r.Register(ctx, "test.v1.Place", main); err != nil {
		t.Fatal(err)
	}
	if _, err := r.DeleteSubject(ctx, "test.v1.Place", false); err != nil {
		t.Fatal(err)
	}
	// A soft-deleted schema's records may still be read: its reference
	// may be soft-deleted, not removed.
	if _, err := r.DeleteSubject(ctx, "deps/common.proto", false); err != nil {
		t.Fatal(err)
	}
	_, err := r.DeleteSubject(ctx, "deps/common.proto", true)
	wantCode(t, err, regclient.CodeReferenceExists)
}

// TestConcurrentStartOnOneDatabase: instances starting together migrate
// the database once.
func TestConcurrentStartOnOneDatabase(t *testing.T) {
	t.Parallel()
	db := sqldbtest.Open(t, sqldb.Postgres)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			r, err := registry.Open(t.Context(), registry.Options{DB: db})
			if err == nil {
				r.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
	}
}
