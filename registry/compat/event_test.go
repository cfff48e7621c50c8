package compat_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
	"github.com/cairnhq/cairn/registry/compat"
)

// eventFile builds a file declaring one event, game.v1.Answer, with the
// given options (nil: not an event) and one nested event with the same.
func eventFile(t testing.TB, opts *optionsv1.EventOptions) protoreflect.FileDescriptor {
	t.Helper()
	msgOpts := func() *descriptorpb.MessageOptions {
		if opts == nil {
			return nil
		}
		o := new(descriptorpb.MessageOptions)
		proto.SetExtension(o, optionsv1.E_Event, opts)
		return o
	}
	field := func(name string, n int32) *descriptorpb.FieldDescriptorProto {
		return &descriptorpb.FieldDescriptorProto{
			Name: proto.String(name), Number: proto.Int32(n),
			Type:  descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum(),
			Label: descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum(),
		}
	}
	fdp := &descriptorpb.FileDescriptorProto{
		Name: proto.String("game.proto"), Package: proto.String("game.v1"), Syntax: proto.String("proto3"),
		MessageType: []*descriptorpb.DescriptorProto{{
			Name:       proto.String("Answer"),
			Field:      []*descriptorpb.FieldDescriptorProto{field("hunt_id", 1), field("player_id", 2)},
			Options:    msgOpts(),
			NestedType: []*descriptorpb.DescriptorProto{{Name: proto.String("Inner"), Field: []*descriptorpb.FieldDescriptorProto{field("x", 1)}, Options: msgOpts()}},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

var allLevels = []compat.Level{compat.Backward, compat.BackwardTransitive, compat.Forward, compat.ForwardTransitive, compat.Full, compat.FullTransitive}

func TestEventOptionChanged(t *testing.T) {
	t.Parallel()
	base := &optionsv1.EventOptions{Topic: "game.events", KeyField: "hunt_id", ActorField: "player_id"}
	with := func(edit func(*optionsv1.EventOptions)) *optionsv1.EventOptions {
		o := proto.CloneOf(base)
		edit(o)
		return o
	}
	tests := []struct {
		name      string
		old, next *optionsv1.EventOptions
		changed   []string // options named, per message (Answer, then Inner)
	}{
		{"same", base, with(func(*optionsv1.EventOptions) {}), nil},
		{"topic", base, with(func(o *optionsv1.EventOptions) { o.Topic = "game.nowhere" }), []string{"topic"}},
		{"key_field", base, with(func(o *optionsv1.EventOptions) { o.KeyField = "player_id" }), []string{"key_field"}},
		{"actor_field dropped", base, with(func(o *optionsv1.EventOptions) { o.ActorField = "" }), []string{"actor_field"}},
		{"derived", base, with(func(o *optionsv1.EventOptions) { o.Derived = true }), []string{"derived"}},
		{"no longer an event", base, nil, []string{"topic", "key_field", "actor_field"}},
		{"becomes an event", nil, base, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			old, next := eventFile(t, tt.old), eventFile(t, tt.next)
			for _, level := range allLevels {
				got := compat.Check(level, next, []protoreflect.FileDescriptor{old})
				var names []string
				for _, inc := range got {
					if inc.Kind != compat.EventOptionChanged {
						t.Fatalf("%v: unexpected %v", level, inc)
					}
					names = append(names, inc.Message)
				}
				// Each changed option is named once for Answer and once for
				// its nested Inner, whatever the direction.
				if len(names) != 2*len(tt.changed) {
					t.Fatalf("%v: got %q, want %d changes", level, names, 2*len(tt.changed))
				}
				for i, opt := range tt.changed {
					if !strings.Contains(names[i], "event option "+opt+" of game.v1.Answer ") {
						t.Errorf("%v: %q does not name %s of Answer", level, names[i], opt)
					}
				}
			}
			if got := compat.Check(compat.None, next, []protoreflect.FileDescriptor{old}); len(got) != 0 {
				t.Errorf("NONE: %v", got)
			}
		})
	}
}

// FuzzEventOptionCheck changes an event's options at random: the check
// refuses exactly the security options that differ, naming each, at
// every level but NONE; and never panics.
func FuzzEventOptionCheck(f *testing.F) {
	f.Add("game.events", "hunt_id", "player_id", false, "game.events", "hunt_id", "player_id", false, uint8(0))
	f.Add("game.events", "hunt_id", "player_id", false, "game.events", "hunt_id", "", false, uint8(1))
	f.Add("a", "", "", true, "b", "hunt_id", "x\xff", false, uint8(5))
	f.Fuzz(func(t *testing.T, topic1, key1, actor1 string, derived1 bool, topic2, key2, actor2 string, derived2 bool, lvl uint8) {
		old := &optionsv1.EventOptions{Topic: topic1, KeyField: key1, ActorField: actor1, Derived: derived1}
		next := &optionsv1.EventOptions{Topic: topic2, KeyField: key2, ActorField: actor2, Derived: derived2}
		if _, err := proto.Marshal(old); err != nil {
			t.Skip("options that do not encode (invalid UTF-8) never reach a descriptor")
		}
		if _, err := proto.Marshal(next); err != nil {
			t.Skip("options that do not encode (invalid UTF-8) never reach a descriptor")
		}
		level := allLevels[int(lvl)%len(allLevels)]
		got := compat.Check(level, eventFile(t, next), []protoreflect.FileDescriptor{eventFile(t, old)})
		want := map[string]bool{"topic": topic1 != topic2, "key_field": key1 != key2, "actor_field": actor1 != actor2, "derived": derived1 != derived2}
		for opt, changed := range want {
			named := 0
			for _, inc := range got {
				if inc.Kind == compat.EventOptionChanged && strings.HasPrefix(inc.Message, "event option "+opt+" of ") {
					named++
				}
			}
			if changed && named != 2 || !changed && named != 0 {
				t.Errorf("%v: %s changed=%v, named %d times in %v", level, opt, changed, named, got)
			}
		}
		if len(got) > 0 && compat.Check(compat.None, eventFile(t, next), []protoreflect.FileDescriptor{eventFile(t, old)}) != nil {
			t.Error("NONE refused a change")
		}
	})
}
