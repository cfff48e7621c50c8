package registry_test

import (
	"encoding/json"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// TestMetadataStored: a schema's metadata and rule set survive a restart on
// each engine, and other metadata makes another schema, as in Confluent.
func TestMetadataStored(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		r := openOn(t, db)
		in := proto3(thingV1)
		in.Metadata = json.RawMessage(`{"properties":{"owner":"shop"}}`)
		in.RuleSet = json.RawMessage(`{"domainRules":[{"name":"id","kind":"CONDITION","mode":"WRITE","type":"CEL","expr":"true"}]}`)
		id, err := r.Register(ctx, "s", in)
		if err != nil {
			t.Fatal(err)
		}
		if again, err := r.Register(ctx, "s", in); err != nil || again != id {
			t.Errorf("re-register with the same metadata: %d, %v; want %d", again, err, id)
		}
		other := in
		other.Metadata = json.RawMessage(`{"properties":{"owner":"billing"}}`)
		otherID, err := r.Register(ctx, "s", other)
		if err != nil || otherID == id {
			t.Errorf("register with other metadata: %d, %v; want a new id", otherID, err)
		}
		if _, err := r.LookUp(ctx, "s", proto3(thingV1), false); !regclient.IsNotFound(err) {
			t.Errorf("lookup without metadata = %v, want not found", err)
		}
		r.Close()

		r = openOn(t, db)
		defer r.Close()
		s, err := r.SchemaByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if string(s.Metadata) != string(in.Metadata) || string(s.RuleSet) != string(in.RuleSet) {
			t.Errorf("after reopening: metadata %s, rule set %s", s.Metadata, s.RuleSet)
		}
		sv, err := r.Version(ctx, "s", 2, false)
		if err != nil || sv.Schema.ID != otherID || string(sv.Schema.Metadata) != string(other.Metadata) || sv.Schema.RuleSet == nil {
			t.Errorf("version 2 after reopening: %+v, %v", sv, err)
		}
	})
}

// TestRESTMetadata: metadata and ruleSet come back from every read of a
// version or schema; a non-object is refused.
func TestRESTMetadata(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	body := jsonBody(t, map[string]any{
		"schema": plainProto, "schemaType": "PROTOBUF",
		"metadata": map[string]any{"properties": map[string]string{"owner": "shop"}},
		"ruleSet":  map[string]any{"domainRules": []map[string]string{{"name": "id", "kind": "CONDITION", "type": "CEL", "mode": "WRITE", "expr": "true"}}},
	})
	mustOK(t, do(t, "POST", tr.url()+"/subjects/plain-value/versions", body))
	extras := `"metadata":{"properties":{"owner":"shop"}},"ruleSet":{"domainRules":[{"expr":"true","kind":"CONDITION","mode":"WRITE","name":"id","type":"CEL"}]}`
	version := `{"subject":"plain-value","version":1,"id":1,"schemaType":"PROTOBUF","schema":` + quote(plainProto) + `,"references":[],` + extras + `}`
	for path, want := range map[string]string{
		"/subjects/plain-value/versions/1": version,
		"/schemas/ids/1":                   `{"schemaType":"PROTOBUF","schema":` + quote(plainProto) + `,"references":[],` + extras + `}`,
		"/schemas":                         "[" + version + "]",
	} {
		r := mustOK(t, do(t, "GET", tr.url()+path, nil))
		if !sameJSON(t, r.body, []byte(want)) {
			t.Errorf("GET %s:\n%s\nwant\n%s", path, r.body, want)
		}
	}
	r := mustOK(t, do(t, "POST", tr.url()+"/subjects/plain-value", body))
	if !sameJSON(t, r.body, []byte(version)) {
		t.Errorf("lookup:\n%s\nwant\n%s", r.body, version)
	}
	bad := jsonBody(t, map[string]any{"schema": plainProto, "schemaType": "PROTOBUF", "metadata": []int{1}})
	if r := do(t, "POST", tr.url()+"/subjects/plain-value/versions", bad); r.status != 422 || r.errorCode() != 42201 {
		t.Errorf("metadata not an object: %d %s", r.status, r.body)
	}
}

// TestConfluentMetadata: confluent-kafka-go's client registers and reads
// back a schema's metadata and rule set.
func TestConfluentMetadata(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	c := confluentClient(t, tr)
	info := schemaregistry.SchemaInfo{
		Schema:     plainProto,
		SchemaType: "PROTOBUF",
		Metadata:   &schemaregistry.Metadata{Properties: map[string]string{"owner": "shop"}},
		RuleSet: &schemaregistry.RuleSet{DomainRules: []schemaregistry.Rule{
			{Name: "id", Kind: "CONDITION", Mode: "WRITE", Type: "CEL", Expr: "true"},
		}},
	}
	id, err := c.Register("plain-value", info, false)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := c.GetLatestSchemaMetadata("plain-value")
	if err != nil || latest.ID != id || latest.Metadata == nil || latest.Metadata.Properties["owner"] != "shop" ||
		latest.RuleSet == nil || len(latest.RuleSet.DomainRules) != 1 || latest.RuleSet.DomainRules[0].Expr != "true" {
		t.Errorf("GetLatestSchemaMetadata: %+v, %v", latest, err)
	}
	// A fresh client, so that the answer comes from the registry.
	byID, err := confluentClient(t, tr).GetBySubjectAndID("plain-value", id)
	if err != nil || byID.Metadata == nil || byID.Metadata.Properties["owner"] != "shop" || byID.RuleSet == nil {
		t.Errorf("GetBySubjectAndID: %+v, %v", byID, err)
	}
}

// TestFranzMetadata: franz-go's client sends and reads back a schema's
// metadata.
func TestFranzMetadata(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	c, err := sr.NewClient(sr.URLs(tr.url()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	schema := sr.Schema{Schema: plainProto, Type: sr.TypeProtobuf, SchemaMetadata: &sr.SchemaMetadata{Properties: map[string]string{"owner": "shop"}}}
	created, err := c.CreateSchema(ctx, "plain-value", schema)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.SchemaByVersion(ctx, "plain-value", -1)
	if err != nil || got.ID != created.ID || got.SchemaMetadata == nil || got.SchemaMetadata.Properties["owner"] != "shop" {
		t.Errorf("SchemaByVersion: %+v, %v", got, err)
	}
	byID, err := c.SchemaByID(ctx, created.ID)
	if err != nil || byID.SchemaMetadata == nil || byID.SchemaMetadata.Properties["owner"] != "shop" {
		t.Errorf("SchemaByID: %+v, %v", byID, err)
	}
}
