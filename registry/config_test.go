package registry_test

import (
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// TestConfluentNormalizeConfig: with normalize set in a subject's config
// through confluent-kafka-go's UpdateConfig, a reordered schema registered
// and looked up without the flag keeps the first one's id and version;
// another subject, without the setting, registers it as a new schema until
// the global config says normalize too.
func TestConfluentNormalizeConfig(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	c := confluentClient(t, tr)
	if _, err := c.UpdateDefaultConfig(schemaregistry.ServerConfig{CompatibilityUpdate: schemaregistry.None}); err != nil {
		t.Fatal(err)
	}
	got, err := c.UpdateConfig("shuffle-value", schemaregistry.ServerConfig{Normalize: true})
	if err != nil || !got.Normalize {
		t.Fatalf("UpdateConfig normalize: %+v, %v", got, err)
	}
	cfg, err := c.GetConfig("shuffle-value", false)
	if err != nil || !cfg.Normalize || cfg.CompatibilityLevel != 0 {
		t.Errorf("GetConfig of the subject: %+v, %v; want normalize and no level of its own", cfg, err)
	}
	cfg, err = c.GetConfig("shuffle-value", true)
	if err != nil || !cfg.Normalize || cfg.CompatibilityLevel != schemaregistry.None {
		t.Errorf("GetConfig defaulting to global: %+v, %v; want normalize and NONE", cfg, err)
	}
	// The level set later leaves normalize as it is.
	if got, err := c.UpdateConfig("shuffle-value", schemaregistry.ServerConfig{CompatibilityUpdate: schemaregistry.Full}); err != nil || !got.Normalize || got.CompatibilityUpdate != schemaregistry.Full {
		t.Errorf("UpdateConfig compatibility: %+v, %v; want FULL and normalize kept", got, err)
	}

	a := schemaregistry.SchemaInfo{Schema: shuffledA, SchemaType: "PROTOBUF"}
	b := schemaregistry.SchemaInfo{Schema: shuffledB, SchemaType: "PROTOBUF"}
	id, err := c.Register("shuffle-value", a, false)
	if err != nil {
		t.Fatal(err)
	}
	// A fresh client each time, so that the registry answers, not a cache.
	if got, err := confluentClient(t, tr).Register("shuffle-value", b, false); err != nil || got != id {
		t.Errorf("register the reordered schema under a normalizing config: %d, %v; want %d", got, err, id)
	}
	if got, err := confluentClient(t, tr).GetID("shuffle-value", b, false); err != nil || got != id {
		t.Errorf("look up the reordered schema under a normalizing config: %d, %v; want %d", got, err, id)
	}
	if vs, err := c.GetAllVersions("shuffle-value"); err != nil || len(vs) != 1 {
		t.Errorf("versions: %v, %v; want one", vs, err)
	}

	if _, err := c.Register("plain-shuffle", a, false); err != nil {
		t.Fatal(err)
	}
	if got, err := confluentClient(t, tr).Register("plain-shuffle", b, false); err != nil || got == id {
		t.Errorf("register the reordered schema without the setting: %d, %v; want a new id", got, err)
	}
	if _, err := c.UpdateDefaultConfig(schemaregistry.ServerConfig{Normalize: true}); err != nil {
		t.Fatal(err)
	}
	if got, err := confluentClient(t, tr).GetID("other-shuffle", a, false); err == nil {
		t.Errorf("look up in a subject that does not exist: %d", got)
	}
	if _, err := c.Register("other-shuffle", a, false); err != nil {
		t.Fatal(err)
	}
	if got, err := confluentClient(t, tr).Register("other-shuffle", b, false); err != nil || got != id {
		t.Errorf("register the reordered schema under a normalizing global config: %d, %v; want %d", got, err, id)
	}
}

// TestRESTConfigNormalize: PUT /config takes normalize with or without a
// level; GET shows it; DELETE removes it with the level; a body with
// neither is refused.
func TestRESTConfigNormalize(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	for _, tt := range []struct{ method, path, body, want string }{
		{"PUT", "/config/s", `{"normalize":true}`, `{"normalize":true}`},
		{"GET", "/config/s", ``, `{"normalize":true}`},
		{"GET", "/config/s?defaultToGlobal=true", ``, `{"compatibilityLevel":"BACKWARD","normalize":true}`},
		{"PUT", "/config/s", `{"compatibility":"full"}`, `{"compatibility":"FULL","normalize":true}`},
		{"PUT", "/config/s", `{"compatibility":"NONE","normalize":false}`, `{"compatibility":"NONE","normalize":false}`},
		{"DELETE", "/config/s", ``, `{"compatibilityLevel":"NONE","normalize":false}`},
		{"PUT", "/config", `{"normalize":true}`, `{"compatibility":"BACKWARD","normalize":true}`},
		{"GET", "/config", ``, `{"compatibilityLevel":"BACKWARD","normalize":true}`},
		{"GET", "/config/s?defaultToGlobal=true", ``, `{"compatibilityLevel":"BACKWARD","normalize":true}`},
		{"DELETE", "/config", ``, `{"compatibilityLevel":"BACKWARD","normalize":true}`},
		{"GET", "/config", ``, `{"compatibilityLevel":"BACKWARD"}`},
	} {
		var body []byte
		if tt.body != "" {
			body = []byte(tt.body)
		}
		r := mustOK(t, do(t, tt.method, tr.url()+tt.path, body))
		if !sameJSON(t, r.body, []byte(tt.want)) {
			t.Errorf("%s %s %s = %s, want %s", tt.method, tt.path, tt.body, r.body, tt.want)
		}
	}
	if r := do(t, "GET", tr.url()+"/config/s", nil); r.status != 404 || r.errorCode() != 40408 {
		t.Errorf("GET /config/s after DELETE: %d %s; want 40408", r.status, r.body)
	}
	if r := do(t, "PUT", tr.url()+"/config/s", []byte(`{}`)); r.status != 422 || r.errorCode() != 42203 {
		t.Errorf("PUT /config/s with neither setting: %d %s; want 42203", r.status, r.body)
	}
}

// TestNormalizeConfigStored: the normalize setting survives a restart on
// each engine and is honoured by Register and LookUp.
func TestNormalizeConfigStored(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		r := openOn(t, db)
		normalize := true
		if _, err := r.SetConfig(ctx, "s", "NONE", &normalize); err != nil {
			t.Fatal(err)
		}
		r.Close()
		r = openOn(t, db)
		defer r.Close()
		c, err := r.Config(ctx, "s", false)
		if err != nil || c.Compatibility != "NONE" || c.Normalize == nil || !*c.Normalize {
			t.Fatalf("config after reopening: %+v, %v", c, err)
		}
		id, err := r.Register(ctx, "s", regclient.SchemaInput{Text: shuffledA})
		if err != nil {
			t.Fatal(err)
		}
		if again, err := r.Register(ctx, "s", regclient.SchemaInput{Text: shuffledB}); err != nil || again != id {
			t.Errorf("register reordered: %d, %v; want %d", again, err, id)
		}
		if sv, err := r.LookUp(ctx, "s", regclient.SchemaInput{Text: shuffledB}, false); err != nil || sv.Version != 1 {
			t.Errorf("look up reordered: %+v, %v", sv, err)
		}
	})
}
