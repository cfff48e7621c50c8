package registry_test

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/cairnhq/cairn/registry"
)

// TestFranzModes: franz-go's SetMode and ResetMode, for a subject and the
// registry, and IMPORT needing sr.Force once versions exist.
func TestFranzModes(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	c, err := sr.NewClient(sr.URLs(tr.url()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// An empty registry may be put in IMPORT mode without force.
	if got := c.SetMode(ctx, sr.ModeImport); len(got) != 1 || got[0].Err != nil || got[0].Mode != sr.ModeImport {
		t.Fatalf("SetMode IMPORT on an empty registry: %+v", got)
	}
	if got := c.ResetMode(ctx); len(got) != 1 || got[0].Err != nil || got[0].Mode != sr.ModeImport {
		t.Fatalf("ResetMode: %+v", got)
	}
	if got := c.Mode(ctx); len(got) != 1 || got[0].Err != nil || got[0].Mode != sr.ModeReadWrite {
		t.Fatalf("Mode after ResetMode: %+v", got)
	}

	if _, err := c.RegisterSchema(ctx, "plain-value", sr.Schema{Schema: plainProto, Type: sr.TypeProtobuf}, -1, -1); err != nil {
		t.Fatal(err)
	}
	got := c.SetMode(ctx, sr.ModeImport)
	if len(got) != 1 || franzCode(t, got[0].Err) != 42205 {
		t.Errorf("SetMode IMPORT on a registry holding versions: %+v", got)
	}
	got = c.SetMode(ctx, sr.ModeImport, "plain-value")
	if len(got) != 1 || franzCode(t, got[0].Err) != 42205 {
		t.Errorf("SetMode IMPORT on a subject holding versions: %+v", got)
	}
	got = c.SetMode(sr.WithParams(ctx, sr.Force), sr.ModeImport, "plain-value")
	if len(got) != 1 || got[0].Err != nil || got[0].Mode != sr.ModeImport {
		t.Errorf("SetMode IMPORT with force: %+v", got)
	}
	if got := c.Mode(ctx, "plain-value"); len(got) != 1 || got[0].Err != nil || got[0].Mode != sr.ModeImport {
		t.Errorf("Mode of the subject: %+v", got)
	}
	if got := c.ResetMode(ctx, "plain-value"); len(got) != 1 || got[0].Err != nil || got[0].Mode != sr.ModeImport {
		t.Errorf("ResetMode of the subject: %+v", got)
	}
	if got := c.Mode(sr.WithParams(ctx, sr.DefaultToGlobal), "plain-value"); len(got) != 1 || got[0].Err != nil || got[0].Mode != sr.ModeReadWrite {
		t.Errorf("Mode of the subject after reset: %+v", got)
	}
}

// TestRESTListSchemas: GET /schemas and its filters, by subject then
// version, soft-deleted versions only when asked.
func TestRESTListSchemas(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	registerOrders(t, tr)
	mustOK(t, do(t, "POST", tr.url()+"/subjects/orders-value/versions", schemaBody(t, orderProtoV2, commonRef)))
	mustOK(t, do(t, "POST", tr.url()+"/subjects/plain-value/versions", schemaBody(t, plainProto)))
	mustOK(t, do(t, "DELETE", tr.url()+"/subjects/orders-value/versions/2", nil))

	common := `{"subject":"deps/common.proto","version":1,"id":1,"schemaType":"PROTOBUF","schema":` + quote(commonProto) + `,"references":[]}`
	orderRefs := `,"references":[{"name":"deps/common.proto","subject":"deps/common.proto","version":1}]}`
	order1 := `{"subject":"orders-value","version":1,"id":2,"schemaType":"PROTOBUF","schema":` + quote(orderProto) + orderRefs
	order2 := `{"subject":"orders-value","version":2,"id":3,"schemaType":"PROTOBUF","schema":` + quote(orderProtoV2) + orderRefs
	plain := `{"subject":"plain-value","version":1,"id":4,"schemaType":"PROTOBUF","schema":` + quote(plainProto) + `,"references":[]}`
	for _, tt := range []struct{ query, want string }{
		{"", "[" + common + "," + order1 + "," + plain + "]"},
		{"?deleted=true", "[" + common + "," + order1 + "," + order2 + "," + plain + "]"},
		{"?subjectPrefix=orders", "[" + order1 + "]"},
		{"?subjectPrefix=orders&deleted=true", "[" + order1 + "," + order2 + "]"},
		{"?subjectPrefix=orders&deleted=true&latestOnly=true", "[" + order2 + "]"},
		{"?latestOnly=true", "[" + common + "," + order1 + "," + plain + "]"},
		{"?subjectPrefix=nothing", "[]"},
		{"?deleted=true&offset=1&limit=2", "[" + order1 + "," + order2 + "]"},
		{"?offset=2", "[" + plain + "]"},
		{"?offset=9", "[]"},
		{"?offset=-3&limit=1", "[" + common + "]"},
		{"?limit=0", "[" + common + "," + order1 + "," + plain + "]"},
	} {
		r := mustOK(t, do(t, "GET", tr.url()+"/schemas"+tt.query, nil))
		if !sameJSON(t, r.body, []byte(tt.want)) {
			t.Errorf("GET /schemas%s:\n%s\nwant\n%s", tt.query, r.body, tt.want)
		}
	}
	for _, q := range []string{"?offset=x", "?limit=1.5", "?limit=99999999999"} {
		if r := do(t, "GET", tr.url()+"/schemas"+q, nil); r.status != 400 || r.errorCode() != 400 {
			t.Errorf("GET /schemas%s: status %d, error_code %d: %s", q, r.status, r.errorCode(), r.body)
		}
	}
}

// TestFranzAllSchemas: franz-go's AllSchemas with its parameters.
func TestFranzAllSchemas(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	registerOrders(t, tr)
	mustOK(t, do(t, "POST", tr.url()+"/subjects/orders-value/versions", schemaBody(t, orderProtoV2, commonRef)))
	c, err := sr.NewClient(sr.URLs(tr.url()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	all, err := c.AllSchemas(ctx)
	if err != nil || len(all) != 3 {
		t.Fatalf("AllSchemas: %+v, %v", all, err)
	}
	if all[2].Subject != "orders-value" || all[2].Version != 2 || all[2].Schema.Schema != orderProtoV2 || len(all[2].References) != 1 {
		t.Errorf("AllSchemas' last: %+v", all[2])
	}
	latest, err := c.AllSchemas(sr.WithParams(ctx, sr.SubjectPrefix("orders"), sr.LatestOnly))
	if err != nil || len(latest) != 1 || latest[0].Version != 2 || latest[0].ID != all[2].ID {
		t.Errorf("AllSchemas latest of orders: %+v, %v", latest, err)
	}
	page, err := c.AllSchemas(sr.WithParams(ctx, sr.Offset(1), sr.Limit(1)))
	if err != nil || len(page) != 1 || page[0].Subject != "orders-value" || page[0].Version != 1 {
		t.Errorf("AllSchemas page: %+v, %v", page, err)
	}
}

// Two texts of one schema: the same declarations in another order and
// another layout.
const (
	shuffledA = `syntax = "proto3";
package shuffle;

message Order {
  string id = 1;
  int64 units = 2;
  Kind kind = 3;
}

enum Kind {
  KIND_UNSPECIFIED = 0;
  KIND_A = 1;
  KIND_B = 2;
}

message Line { string sku = 1; }
`
	shuffledB = `syntax = "proto3";
package shuffle;
message Line {
    string sku = 1;
}
enum Kind { KIND_UNSPECIFIED = 0; KIND_B = 2; KIND_A = 1; }
message Order { Kind kind = 3; string id = 1; int64 units = 2; }
`
	// shuffledOther renumbers a field: another schema.
	shuffledOther = `syntax = "proto3";
package shuffle;
message Line { string sku = 1; }
enum Kind { KIND_UNSPECIFIED = 0; KIND_A = 1; KIND_B = 2; }
message Order { string id = 1; int64 units = 4; Kind kind = 3; }
`
)

// TestRESTNormalize: with normalize=true, declaration order and layout do
// not change a schema's identity on register and lookup; without it,
// declaration order does.
func TestRESTNormalize(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	mustOK(t, do(t, "PUT", tr.url()+"/config", []byte(`{"compatibility":"NONE"}`)))
	id := func(r response) int {
		var b struct {
			ID int `json:"id"`
		}
		if err := json.Unmarshal(r.body, &b); err != nil {
			t.Fatal(err)
		}
		return b.ID
	}
	first := id(mustOK(t, do(t, "POST", tr.url()+"/subjects/shuffle-value/versions", schemaBody(t, shuffledA))))

	if r := do(t, "POST", tr.url()+"/subjects/shuffle-value", schemaBody(t, shuffledB)); r.status != 404 || r.errorCode() != 40403 {
		t.Errorf("lookup of the reordered text without normalize: %d %s", r.status, r.body)
	}
	got := mustOK(t, do(t, "POST", tr.url()+"/subjects/shuffle-value?normalize=true", schemaBody(t, shuffledB)))
	if id(got) != first || !bytes.Contains(got.body, []byte(`"version":1`)) {
		t.Errorf("lookup with normalize: %s", got.body)
	}
	if r := do(t, "POST", tr.url()+"/subjects/shuffle-value?normalize=true", schemaBody(t, shuffledOther)); r.status != 404 || r.errorCode() != 40403 {
		t.Errorf("lookup of a renumbered field with normalize: %d %s", r.status, r.body)
	}
	if again := id(mustOK(t, do(t, "POST", tr.url()+"/subjects/shuffle-value/versions?normalize=true", schemaBody(t, shuffledB)))); again != first {
		t.Errorf("register the reordered text with normalize: id %d, want %d", again, first)
	}
	mustOK(t, do(t, "GET", tr.url()+"/subjects/shuffle-value/versions/1", nil))
	if r := do(t, "GET", tr.url()+"/subjects/shuffle-value/versions/2", nil); r.status != 404 {
		t.Errorf("a normalized re-registration made version 2: %s", r.body)
	}
	// Another subject registering the reordered text keeps the id.
	if other := id(mustOK(t, do(t, "POST", tr.url()+"/subjects/other-value/versions?normalize=true", schemaBody(t, shuffledB)))); other != first {
		t.Errorf("register the reordered text in another subject: id %d, want %d", other, first)
	}
	// Without normalize, the reordered text is a new schema and version.
	if plain := id(mustOK(t, do(t, "POST", tr.url()+"/subjects/shuffle-value/versions", schemaBody(t, shuffledB)))); plain == first {
		t.Errorf("register the reordered text without normalize kept id %d", plain)
	}
	r := mustOK(t, do(t, "POST", tr.url()+"/compatibility/subjects/shuffle-value/versions/1?normalize=true", schemaBody(t, shuffledB)))
	if !sameJSON(t, r.body, []byte(`{"is_compatible":true}`)) {
		t.Errorf("compatibility with normalize: %s", r.body)
	}
}

// TestClientsNormalize: the normalize flag of confluent-kafka-go's and
// franz-go's clients.
func TestClientsNormalize(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	cc := confluentClient(t, tr)
	a := schemaregistry.SchemaInfo{Schema: shuffledA, SchemaType: "PROTOBUF"}
	b := schemaregistry.SchemaInfo{Schema: shuffledB, SchemaType: "PROTOBUF"}
	id, err := cc.Register("shuffle-value", a, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cc.Register("shuffle-value", b, true); err != nil || got != id {
		t.Errorf("confluent Register normalized: %d, %v; want %d", got, err, id)
	}
	if got, err := cc.GetID("shuffle-value", b, true); err != nil || got != id {
		t.Errorf("confluent GetID normalized: %d, %v; want %d", got, err, id)
	}
	if v, err := cc.GetVersion("shuffle-value", b, true); err != nil || v != 1 {
		t.Errorf("confluent GetVersion normalized: %d, %v", v, err)
	}

	fc, err := sr.NewClient(sr.URLs(tr.url()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := sr.WithParams(t.Context(), sr.Normalize)
	found, err := fc.LookupSchema(ctx, "shuffle-value", sr.Schema{Schema: shuffledB, Type: sr.TypeProtobuf})
	if err != nil || found.ID != id || found.Version != 1 {
		t.Errorf("franz LookupSchema normalized: %+v, %v", found, err)
	}
	created, err := fc.CreateSchema(ctx, "shuffle-value", sr.Schema{Schema: shuffledB, Type: sr.TypeProtobuf})
	if err != nil || created.ID != id || created.Version != 1 {
		t.Errorf("franz CreateSchema normalized: %+v, %v", created, err)
	}
	if _, err := fc.LookupSchema(t.Context(), "shuffle-value", sr.Schema{Schema: shuffledB, Type: sr.TypeProtobuf}); franzCode(t, err) != 40403 {
		t.Errorf("franz LookupSchema without normalize: %v", err)
	}
}
