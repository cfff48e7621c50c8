package registry_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/cairnhq/cairn/internal/schemas"
	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
	"github.com/cairnhq/cairn/registry"
)

func hunt(t *testing.T) *registry.Memory {
	t.Helper()
	m, err := registry.NewMemory(schemas.Hunt()...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResolveHuntEvents(t *testing.T) {
	t.Parallel()
	m := hunt(t)
	tests := []struct {
		name, topic, key, actor string
	}{
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
		typ, err := m.Resolve(t.Context(), protoreflect.FullName(tt.name))
		if err != nil {
			t.Fatalf("Resolve(%s): %v", tt.name, err)
		}
		if typ.Event.GetTopic() != tt.topic || typ.KeyField().Name() != protoName(tt.key) {
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

		back, err := m.ResolveID(t.Context(), typ.SchemaID, typ.Indexes)
		if err != nil || back != typ {
			t.Errorf("ResolveID(%d, %v) = %v, %v; want %s", typ.SchemaID, typ.Indexes, back, err, tt.name)
		}
	}
	if got, want := m.Topics(), []string{"cairn.hunt.derived", "cairn.hunt.events", "cairn.player.events"}; !slices.Equal(got, want) {
		t.Errorf("Topics = %v, want %v", got, want)
	}
}

func protoName(s string) protoreflect.Name { return protoreflect.Name(s) }

func TestResolveNonEventAndNested(t *testing.T) {
	t.Parallel()
	m := hunt(t)
	clue, err := m.Resolve(t.Context(), "cairn.hunt.v1.Clue")
	if err != nil {
		t.Fatal(err)
	}
	if clue.Event != nil {
		t.Errorf("Clue has event options %v, want none", clue.Event)
	}
	// types.proto declares GeoPoint, GeoTarget, Clue in that order.
	if !slices.Equal(clue.Indexes, []int{2}) {
		t.Errorf("Clue indexes = %v, want [2]", clue.Indexes)
	}
	got, err := m.ResolveID(t.Context(), clue.SchemaID, []int{2})
	if err != nil || got.Name() != "cairn.hunt.v1.Clue" {
		t.Errorf("ResolveID(%d, [2]) = %v, %v", clue.SchemaID, got, err)
	}
}

func TestResolveNotFound(t *testing.T) {
	t.Parallel()
	m := hunt(t)
	if _, err := m.Resolve(t.Context(), "cairn.hunt.v1.Nope"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("Resolve unknown = %v, want ErrNotFound", err)
	}
	typ, _ := m.Resolve(t.Context(), "cairn.hunt.v1.PlayerRegistered")
	for _, tc := range []struct {
		id      int32
		indexes []int
	}{{9999, []int{0}}, {typ.SchemaID, []int{5}}, {typ.SchemaID, []int{0, 0}}} {
		if _, err := m.ResolveID(t.Context(), tc.id, tc.indexes); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("ResolveID(%d, %v) = %v, want ErrNotFound", tc.id, tc.indexes, err)
		}
	}
}

// TestRegisterRejectsBadEventOptions registers one-message files whose event
// options cannot work.
func TestRegisterRejectsBadEventOptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opts *optionsv1.EventOptions
		want string
	}{
		{"no topic", &optionsv1.EventOptions{KeyField: "id"}, "not a valid Kafka topic name"},
		{"bad topic", &optionsv1.EventOptions{Topic: "a topic", KeyField: "id"}, "not a valid Kafka topic name"},
		{"no key", &optionsv1.EventOptions{Topic: "t"}, "key_field is required"},
		{"missing key field", &optionsv1.EventOptions{Topic: "t", KeyField: "nope"}, `"nope", which does not exist`},
		{"key not a string", &optionsv1.EventOptions{Topic: "t", KeyField: "count"}, `"count", which is not a singular string`},
		{"actor repeated", &optionsv1.EventOptions{Topic: "t", KeyField: "id", ActorField: "tags"}, `"tags", which is not a singular string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := registry.NewMemory()
			if err != nil {
				t.Fatal(err)
			}
			// options.proto must be registered before a file that imports it.
			if _, err := m.Register(protodesc.ToFileDescriptorProto(optionsv1.File_cairn_options_v1_options_proto)); err != nil {
				t.Fatal(err)
			}
			_, err = m.Register(eventFile(tt.opts))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Register = %v, want an error containing %q", err, tt.want)
			}
			if _, err := m.Resolve(t.Context(), "test.v1.Thing"); !errors.Is(err, registry.ErrNotFound) {
				t.Errorf("a rejected file's type resolves: %v", err)
			}
		})
	}
}

func TestRegisterMissingImport(t *testing.T) {
	t.Parallel()
	m, err := registry.NewMemory()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Register(eventFile(&optionsv1.EventOptions{Topic: "t", KeyField: "id"})); err == nil {
		t.Fatal("Register succeeded without its import registered")
	}
}

func eventFile(opts *optionsv1.EventOptions) *descriptorpb.FileDescriptorProto {
	msgOpts := &descriptorpb.MessageOptions{}
	proto.SetExtension(msgOpts, optionsv1.E_Event, opts)
	field := func(name string, num int32, typ descriptorpb.FieldDescriptorProto_Type, label descriptorpb.FieldDescriptorProto_Label) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{Name: proto.String(name), JsonName: proto.String(name), Number: proto.Int32(num), Type: typ.Enum(), Label: label.Enum()}
	}
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL
	return &descriptorpb.FileDescriptorProto{
		Name:       proto.String("test/v1/thing.proto"),
		Package:    proto.String("test.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"cairn/options/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name:    proto.String("Thing"),
			Options: msgOpts,
			Field: []*descriptorpb.FieldDescriptorProto{
				field("id", 1, descriptorpb.FieldDescriptorProto_TYPE_STRING, opt),
				field("count", 2, descriptorpb.FieldDescriptorProto_TYPE_INT32, opt),
				field("tags", 3, descriptorpb.FieldDescriptorProto_TYPE_STRING, descriptorpb.FieldDescriptorProto_LABEL_REPEATED),
			},
		}},
	}
}
