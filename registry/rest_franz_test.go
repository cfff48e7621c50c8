package registry_test

import (
	"errors"
	"net/http"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/sr"

	"github.com/cairnhq/cairn/registry"
)

// franzCode is the error_code of a failed request, or 0; it also checks
// the HTTP status goes with it.
func franzCode(t *testing.T, err error) int {
	t.Helper()
	e, ok := errors.AsType[*sr.ResponseError](err)
	if !ok {
		return 0
	}
	want := e.ErrorCode
	for want >= 1000 {
		want /= 10
	}
	if e.StatusCode != want {
		t.Errorf("error %d came with HTTP status %d", e.ErrorCode, e.StatusCode)
	}
	return e.ErrorCode
}

// TestFranzClient drives the REST API with franz-go's sr client.
func TestFranzClient(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	c, err := sr.NewClient(sr.URLs(tr.url()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	commonID, err := c.RegisterSchema(ctx, "deps/common.proto", sr.Schema{Schema: commonProto, Type: sr.TypeProtobuf}, -1, -1)
	if err != nil {
		t.Fatalf("register the dependency: %v", err)
	}
	order := sr.Schema{
		Schema:     orderProto,
		Type:       sr.TypeProtobuf,
		References: []sr.SchemaReference{{Name: "deps/common.proto", Subject: "deps/common.proto", Version: 1}},
	}
	created, err := c.CreateSchema(ctx, "shop.Order", order)
	if err != nil {
		t.Fatalf("create with a reference: %v", err)
	}
	if created.Subject != "shop.Order" || created.Version != 1 || created.ID == commonID {
		t.Errorf("created %+v", created)
	}

	byID, err := c.SchemaByID(ctx, created.ID)
	if err != nil || byID.Schema != orderProto || byID.Type != sr.TypeProtobuf || !slices.Equal(byID.References, order.References) {
		t.Errorf("SchemaByID: %+v, %v", byID, err)
	}
	if text, err := c.SchemaTextByID(ctx, commonID); err != nil || text != commonProto {
		t.Errorf("SchemaTextByID: %q, %v", text, err)
	}
	byVersion, err := c.SchemaByVersion(ctx, "shop.Order", -1)
	if err != nil || byVersion.ID != created.ID || byVersion.Version != 1 || byVersion.Schema.Schema != orderProto {
		t.Errorf("SchemaByVersion latest: %+v, %v", byVersion, err)
	}
	if found, err := c.LookupSchema(ctx, "shop.Order", order); err != nil || found.ID != created.ID || found.Version != 1 {
		t.Errorf("LookupSchema: %+v, %v", found, err)
	}
	if refs, err := c.SchemaReferences(ctx, "deps/common.proto", 1); err != nil || len(refs) != 1 || refs[0].Subject != "shop.Order" {
		t.Errorf("SchemaReferences: %+v, %v", refs, err)
	}
	if subjects, err := c.Subjects(ctx); err != nil || !slices.Equal(subjects, []string{"deps/common.proto", "shop.Order"}) {
		t.Errorf("Subjects: %q, %v", subjects, err)
	}
	if types, err := c.SupportedTypes(ctx); err != nil || !slices.Equal(types, []sr.SchemaType{sr.TypeProtobuf}) {
		t.Errorf("SupportedTypes: %v, %v", types, err)
	}

	// Compatibility.
	v2, broken := order, order
	v2.Schema, broken.Schema = orderProtoV2, orderProtoBroken
	if res, err := c.CheckCompatibility(ctx, "shop.Order", -1, v2); err != nil || !res.Is {
		t.Errorf("adding a field: %+v, %v", res, err)
	}
	res, err := c.CheckCompatibility(sr.WithParams(ctx, sr.Verbose), "shop.Order", -2, broken)
	if err != nil || res.Is || len(res.Messages) == 0 {
		t.Errorf("changing a field's type, verbose: %+v, %v", res, err)
	}
	if _, err := c.CreateSchema(ctx, "shop.Order", broken); franzCode(t, err) != sr.ErrIncompatibleSchema.Code {
		t.Errorf("creating an incompatible schema: %v", err)
	}
	set := c.SetCompatibility(ctx, sr.SetCompatibility{Level: sr.CompatNone}, "shop.Order")
	if len(set) != 1 || set[0].Err != nil || set[0].Level != sr.CompatNone {
		t.Errorf("SetCompatibility: %+v", set)
	}
	if got := c.Compatibility(ctx, "shop.Order"); len(got) != 1 || got[0].Err != nil || got[0].Level != sr.CompatNone {
		t.Errorf("Compatibility: %+v", got)
	}
	if got := c.Compatibility(ctx, "deps/common.proto"); len(got) != 1 || franzCode(t, got[0].Err) != sr.ErrSubjectLevelCompatibilityNotConfigured.Code {
		t.Errorf("Compatibility never set: %+v", got)
	}
	if got := c.Compatibility(sr.WithParams(ctx, sr.DefaultToGlobal), "deps/common.proto"); len(got) != 1 || got[0].Err != nil || got[0].Level != sr.CompatBackward {
		t.Errorf("Compatibility with defaultToGlobal: %+v", got)
	}
	if _, err := c.CreateSchema(ctx, "shop.Order", broken); err != nil {
		t.Errorf("NONE accepts anything: %v", err)
	}

	// Error codes.
	if _, err := c.SchemaByID(ctx, 999); franzCode(t, err) != sr.ErrSchemaNotFound.Code {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := c.SchemaByVersion(ctx, "nope", 1); franzCode(t, err) != sr.ErrSubjectNotFound.Code {
		t.Errorf("unknown subject: %v", err)
	}
	if _, err := c.SchemaByVersion(ctx, "shop.Order", 9); franzCode(t, err) != sr.ErrVersionNotFound.Code {
		t.Errorf("unknown version: %v", err)
	}
	if _, err := c.CreateSchema(ctx, "x", sr.Schema{Schema: `{"type":"string"}`, Type: sr.TypeAvro}); franzCode(t, err) != sr.ErrInvalidSchema.Code {
		t.Errorf("an AVRO schema: %v", err)
	}
	if _, err := c.DeleteSubject(ctx, "deps/common.proto", sr.SoftDelete); franzCode(t, err) != sr.ErrReferenceExists.Code {
		t.Errorf("deleting a referenced subject: %v", err)
	}
	if _, err := c.DeleteSubject(ctx, "shop.Order", sr.HardDelete); franzCode(t, err) != sr.ErrSubjectNotSoftDeleted.Code {
		t.Errorf("hard delete first: %v", err)
	}
	// sr's own types cannot name an unknown level or mode; Do can.
	if err := c.Do(ctx, "PUT", "/config", map[string]string{"compatibility": "SOMETIMES"}, nil); franzCode(t, err) != sr.ErrInvalidCompatibilityLevel.Code {
		t.Errorf("an unknown level: %v", err)
	}
	if err := c.Do(ctx, "PUT", "/mode", map[string]string{"mode": "READSOMETIMES"}, nil); franzCode(t, err) != sr.ErrInvalidMode.Code {
		t.Errorf("an unknown mode: %v", err)
	}

	// Deletes, soft then hard.
	if versions, err := c.DeleteSubject(ctx, "shop.Order", sr.SoftDelete); err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Errorf("soft delete: %v, %v", versions, err)
	}
	if _, err := c.DeleteSubject(ctx, "shop.Order", sr.SoftDelete); franzCode(t, err) != sr.ErrSubjectSoftDeleted.Code {
		t.Errorf("soft delete twice: %v", err)
	}
	if subjects, err := c.Subjects(sr.WithParams(ctx, sr.ShowDeleted)); err != nil || len(subjects) != 2 {
		t.Errorf("Subjects with deleted: %q, %v", subjects, err)
	}
	if versions, err := c.DeleteSubject(ctx, "shop.Order", sr.HardDelete); err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Errorf("hard delete: %v, %v", versions, err)
	}
	if subjects, err := c.Subjects(sr.WithParams(ctx, sr.ShowDeleted)); err != nil || !slices.Equal(subjects, []string{"deps/common.proto"}) {
		t.Errorf("Subjects after a hard delete: %q, %v", subjects, err)
	}
	if err := c.DeleteSchema(ctx, "deps/common.proto", 1, sr.SoftDelete); err != nil {
		t.Errorf("DeleteSchema: %v", err)
	}
}

// TestFranzClientAuth checks franz-go's basic and bearer credentials.
func TestFranzClientAuth(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{Principals: principals, ProtectReads: true})
	ctx := t.Context()
	schema := sr.Schema{Schema: plainProto, Type: sr.TypeProtobuf}
	for _, tt := range []struct {
		name   string
		opt    sr.ClientOpt
		status int
	}{
		{"no credentials", sr.HTTPClient(http.DefaultClient), 401},
		{"reader", sr.BasicAuth("dash", "reader-secret"), 403},
		{"owner", sr.BasicAuth("ci", "owner-secret"), 200},
		{"owner key", sr.BearerToken("owner-api-key"), 200},
	} {
		c, err := sr.NewClient(sr.URLs(tr.url()), tt.opt)
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.RegisterSchema(ctx, "plain-value", schema, -1, -1)
		switch e, _ := errors.AsType[*sr.ResponseError](err); {
		case tt.status == 200 && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.status != 200 && (e == nil || e.StatusCode != tt.status || e.ErrorCode != tt.status*100+1):
			t.Errorf("%s: %v, want status %d", tt.name, err, tt.status)
		}
	}
}
