package registry_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry"
)

// TestConfluentProtobufSerde lets Confluent's protobuf serializer register
// one of our generated messages with its imports, and its deserializer read
// the record back.
func TestConfluentProtobufSerde(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	c := confluentClient(t, tr)
	const topic = "cairn.player.events"

	conf := protobuf.NewSerializerConfig()
	conf.AutoRegisterSchemas = true
	ser, err := protobuf.NewSerializer(c, serde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	want := &huntv1.PlayerRegistered{
		PlayerId:     "6f1c2a4e-8d3b-4f7a-9c1e-2b5d8e0f4a61",
		DisplayName:  "Ada",
		RegisteredAt: timestamppb.New(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)),
	}
	record, err := ser.Serialize(topic, want)
	if err != nil {
		t.Fatalf("serialize: %v", err)
	}

	// The imports other than google/protobuf/* are registered as references
	// under their import paths.
	subjects, err := c.GetAllSubjects()
	if err != nil {
		t.Fatal(err)
	}
	wantSubjects := []string{"buf/validate/validate.proto", "cairn.player.events-value", "cairn/options/v1/options.proto"}
	if !slices.Equal(subjects, wantSubjects) {
		t.Errorf("subjects %q, want %q", subjects, wantSubjects)
	}
	latest, err := c.GetLatestSchemaMetadata(topic + "-value")
	if err != nil {
		t.Fatal(err)
	}
	var refs []string
	for _, r := range latest.References {
		refs = append(refs, r.Name+"="+r.Subject)
	}
	wantRefs := []string{"buf/validate/validate.proto=buf/validate/validate.proto", "cairn/options/v1/options.proto=cairn/options/v1/options.proto"}
	if !slices.Equal(refs, wantRefs) {
		t.Errorf("references %q, want %q", refs, wantRefs)
	}
	// The record names the registered schema.
	if len(record) < 5 || record[0] != 0 || int(record[1])<<24|int(record[2])<<16|int(record[3])<<8|int(record[4]) != latest.ID {
		t.Errorf("record % x does not start with schema id %d", record[:min(len(record), 8)], latest.ID)
	}

	// A second serializer, as in another process, finds the same schema.
	ser2, err := protobuf.NewSerializer(confluentClient(t, tr), serde.ValueSerde, conf)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := ser2.Serialize(topic, want); err != nil || string(again) != string(record) {
		t.Errorf("serializing again: % x, %v", again, err)
	}
	if versions, err := c.GetAllVersions(topic + "-value"); err != nil || len(versions) != 1 {
		t.Errorf("versions after serializing twice: %v, %v", versions, err)
	}

	// A deserializer with a fresh client reads the record back, compiling
	// the schema from the registry's text and references.
	deser, err := protobuf.NewDeserializer(confluentClient(t, tr), serde.ValueSerde, protobuf.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	got := new(huntv1.PlayerRegistered)
	if err := deser.DeserializeInto(topic, record, got); err != nil {
		t.Fatalf("deserialize: %v", err)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
		t.Errorf("read back (-want +got):\n%s", diff)
	}

	// So does one that finds the type by name.
	if err := deser.ProtoRegistry.RegisterMessage((&huntv1.PlayerRegistered{}).ProtoReflect().Type()); err != nil {
		t.Fatal(err)
	}
	msg, err := deser.Deserialize(topic, record)
	if err != nil {
		t.Fatalf("deserialize by type name: %v", err)
	}
	if diff := cmp.Diff(want, msg, protocmp.Transform()); diff != "" {
		t.Errorf("read back by type name (-want +got):\n%s", diff)
	}
	// The requests must not have made the registry complain. Its
	// background refresh may time out on a loaded machine; that warning is
	// about the machine, not the requests.
	for line := range strings.Lines(tr.logs.String()) {
		if (strings.Contains(line, "level=ERROR") || strings.Contains(line, "level=WARN")) && !strings.Contains(line, `msg="registry refresh"`) {
			t.Errorf("the registry complained: %s", line)
		}
	}
}
