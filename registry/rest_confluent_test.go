package registry_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/rest"

	"github.com/cairnhq/cairn/registry"
)

func confluentClient(t *testing.T, tr *testRegistry) schemaregistry.Client {
	t.Helper()
	conf := schemaregistry.NewConfig(tr.url())
	// Registering protovalidate's validate.proto compiles a large file; under
	// the race detector on a busy machine that takes longer than the
	// client's default 10 s.
	conf.RequestTimeoutMs = 60000
	c, err := schemaregistry.NewClient(conf)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// confluentCode is the error_code of a failed request, or 0.
func confluentCode(err error) int {
	if e, ok := errors.AsType[*rest.Error](err); ok {
		return e.Code
	}
	return 0
}

// TestConfluentClient drives the REST API with Confluent's own Go client.
func TestConfluentClient(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	c := confluentClient(t, tr)

	common := schemaregistry.SchemaInfo{Schema: commonProto, SchemaType: "PROTOBUF"}
	commonID, err := c.Register("deps/common.proto", common, false)
	if err != nil {
		t.Fatalf("register the dependency: %v", err)
	}
	order := schemaregistry.SchemaInfo{
		Schema:     orderProto,
		SchemaType: "PROTOBUF",
		References: []schemaregistry.Reference{{Name: "deps/common.proto", Subject: "deps/common.proto", Version: 1}},
	}
	orderID, err := c.Register("shop.Order", order, false)
	if err != nil {
		t.Fatalf("register with a reference: %v", err)
	}
	if commonID == orderID {
		t.Fatalf("two schemas got id %d", orderID)
	}

	// Get by id, with the subject Confluent's deserializers send.
	got, err := c.GetBySubjectAndID("shop.Order", orderID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Schema != orderProto || got.SchemaType != "PROTOBUF" || !slices.Equal(got.References, order.References) {
		t.Errorf("schema %d: %+v", orderID, got)
	}
	if got, err := c.GetBySubjectAndID("", commonID); err != nil || got.Schema != commonProto || len(got.References) != 0 {
		t.Errorf("schema %d: %+v, %v", commonID, got, err)
	}
	if uses, err := c.GetSubjectsAndVersionsByID(commonID); err != nil || len(uses) != 1 || uses[0].Subject != "deps/common.proto" || uses[0].Version != 1 {
		t.Errorf("uses of schema %d: %+v, %v", commonID, uses, err)
	}

	// Lookup.
	if id, err := c.GetID("shop.Order", order, false); err != nil || id != orderID {
		t.Errorf("GetID: %d, %v; want %d", id, err, orderID)
	}
	if v, err := c.GetVersion("shop.Order", order, false); err != nil || v != 1 {
		t.Errorf("GetVersion: %d, %v", v, err)
	}
	latest, err := c.GetLatestSchemaMetadata("shop.Order")
	if err != nil || latest.ID != orderID || latest.Version != 1 || latest.Subject != "shop.Order" || latest.Schema != orderProto {
		t.Errorf("latest: %+v, %v", latest, err)
	}

	// Compatibility, against one version and against the subject.
	v2 := order
	v2.Schema = orderProtoV2
	broken := order
	broken.Schema = orderProtoBroken
	if ok, err := c.TestCompatibility("shop.Order", 1, v2); err != nil || !ok {
		t.Errorf("adding a field: compatible %v, %v", ok, err)
	}
	if ok, err := c.TestCompatibility("shop.Order", 1, broken); err != nil || ok {
		t.Errorf("changing a field's type: compatible %v, %v", ok, err)
	}
	if ok, err := c.TestSubjectCompatibility("shop.Order", broken); err != nil || ok {
		t.Errorf("changing a field's type, against the subject: compatible %v, %v", ok, err)
	}
	if _, err := c.Register("shop.Order", broken, false); confluentCode(err) != 409 {
		t.Errorf("registering an incompatible schema: %v", err)
	}
	v2ID, err := c.Register("shop.Order", v2, false)
	if err != nil {
		t.Fatal(err)
	}
	if versions, err := c.GetAllVersions("shop.Order"); err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Errorf("versions: %v, %v", versions, err)
	}
	if md, err := c.GetSchemaMetadata("shop.Order", 2); err != nil || md.ID != v2ID {
		t.Errorf("version 2: %+v, %v", md, err)
	}

	// Config.
	if level, err := c.GetDefaultCompatibility(); err != nil || level != schemaregistry.Backward {
		t.Errorf("default compatibility: %v, %v", level, err)
	}
	if level, err := c.UpdateCompatibility("shop.Order", schemaregistry.None); err != nil || level != schemaregistry.None {
		t.Errorf("update compatibility: %v, %v", level, err)
	}
	if level, err := c.GetCompatibility("shop.Order"); err != nil || level != schemaregistry.None {
		t.Errorf("compatibility: %v, %v", level, err)
	}
	if ok, err := c.TestCompatibility("shop.Order", 2, broken); err != nil || !ok {
		t.Errorf("NONE accepts anything: %v, %v", ok, err)
	}
	if _, err := c.GetCompatibility("deps/common.proto"); confluentCode(err) != 40408 {
		t.Errorf("compatibility never set: %v", err)
	}
	if cfg, err := c.GetConfig("deps/common.proto", true); err != nil || cfg.CompatibilityLevel != schemaregistry.Backward {
		t.Errorf("config with defaultToGlobal: %+v, %v", cfg, err)
	}

	// Deletes: the dependency is referenced, so it stays.
	if _, err := c.DeleteSubject("deps/common.proto", false); confluentCode(err) != 42206 {
		t.Errorf("deleting a referenced subject: %v", err)
	}
	if _, err := c.DeleteSubject("shop.Order", true); confluentCode(err) != 40405 {
		t.Errorf("permanent delete before a soft one: %v", err)
	}
	if versions, err := c.DeleteSubject("shop.Order", false); err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Errorf("soft delete: %v, %v", versions, err)
	}
	if subjects, err := c.GetAllSubjects(); err != nil || !slices.Equal(subjects, []string{"deps/common.proto"}) {
		t.Errorf("subjects after a soft delete: %v, %v", subjects, err)
	}
	if _, err := c.GetSchemaMetadata("shop.Order", 1); confluentCode(err) != 40401 {
		t.Errorf("a soft-deleted subject's version: %v", err)
	}
	if md, err := c.GetSchemaMetadataIncludeDeleted("shop.Order", 1, true); err != nil || md.ID != orderID {
		t.Errorf("a soft-deleted version, deleted=true: %+v, %v", md, err)
	}
	// A soft-deleted schema still decodes old records.
	c.ClearCaches()
	if got, err := c.GetBySubjectAndID("shop.Order", orderID); err != nil || got.Schema != orderProto {
		t.Errorf("schema of a soft-deleted version: %+v, %v", got, err)
	}
	if versions, err := c.DeleteSubject("shop.Order", true); err != nil || !slices.Equal(versions, []int{1, 2}) {
		t.Errorf("permanent delete: %v, %v", versions, err)
	}
	c.ClearCaches()
	if _, err := c.GetBySubjectAndID("shop.Order", orderID); confluentCode(err) != 40403 {
		t.Errorf("schema after a permanent delete: %v", err)
	}
	// Now nothing refers to the dependency.
	if versions, err := c.DeleteSubject("deps/common.proto", false); err != nil || !slices.Equal(versions, []int{1}) {
		t.Errorf("deleting the dependency: %v, %v", versions, err)
	}
	if v, err := c.DeleteSubjectVersion("deps/common.proto", 1, true); err != nil || v != 1 {
		t.Errorf("deleting the dependency's version for good: %v, %v", v, err)
	}

	// Ids are never reused.
	if id, err := c.Register("shop.Order", schemaregistry.SchemaInfo{Schema: plainProto, SchemaType: "PROTOBUF"}, false); err != nil || id <= v2ID {
		t.Errorf("a new schema after deletes got id %d (%v); ids so far went up to %d", id, err, v2ID)
	}
}

// TestConfluentClientSlashSubject checks a subject with "/" in its name,
// which the client sends as %2F.
func TestConfluentClientSlashSubject(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	c := confluentClient(t, tr)
	const subject = "teams/hunt/plain.proto"
	info := schemaregistry.SchemaInfo{Schema: plainProto, SchemaType: "PROTOBUF"}
	id, err := c.Register(subject, info, false)
	if err != nil {
		t.Fatal(err)
	}
	if md, err := c.GetLatestSchemaMetadata(subject); err != nil || md.ID != id || md.Subject != subject {
		t.Errorf("latest of %q: %+v, %v", subject, md, err)
	}
	if v, err := c.GetVersion(subject, info, false); err != nil || v != 1 {
		t.Errorf("lookup in %q: %d, %v", subject, v, err)
	}
	if _, err := c.UpdateCompatibility(subject, schemaregistry.Full); err != nil {
		t.Fatal(err)
	}
	if level, err := c.GetCompatibility(subject); err != nil || level != schemaregistry.Full {
		t.Errorf("compatibility of %q: %v, %v", subject, level, err)
	}
	if subjects, err := c.GetAllSubjects(); err != nil || !slices.Equal(subjects, []string{subject}) {
		t.Errorf("subjects: %q, %v", subjects, err)
	}
	if _, err := c.DeleteSubject(subject, false); err != nil {
		t.Fatal(err)
	}
	if versions, err := c.DeleteSubject(subject, true); err != nil || !slices.Equal(versions, []int{1}) {
		t.Errorf("permanent delete of %q: %v, %v", subject, versions, err)
	}
	if subjects := tr.Subjects(t.Context(), "", true); len(subjects) != 0 {
		t.Errorf("subjects left: %q", subjects)
	}
}
