package gateway_test

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cairnhq/cairn/registry/regclient"
)

// checkinProto is a proto2 event with a required field one message down:
// the gateway skips the required-field check only for types that have
// none, so this one keeps it.
const checkinProto = `syntax = "proto2";
package cairn.test.v1;
import "cairn/options/v1/options.proto";
message Checkin {
  option (cairn.options.v1.event) = {topic: "cairn.player.events" key_field: "id"};
  optional string id = 1;
  optional Place place = 2;
}
message Place {
  required string name = 1;
}
`

// TestRequiredFieldsChecked: a payload of a proto2 type that leaves out a
// required field, at any depth, is refused, and one that sets it passes.
func TestRequiredFieldsChecked(t *testing.T) {
	t.Parallel()
	s := start(t)
	sv, err := s.registry.Version(t.Context(), "cairn.hunt.v1.PlayerRegistered", -1, false)
	if err != nil {
		t.Fatal(err)
	}
	var refs []regclient.Reference
	for _, r := range sv.Schema.References {
		if r.Name == "cairn/options/v1/options.proto" {
			refs = append(refs, r)
		}
	}
	if _, err := s.registry.Register(t.Context(), "cairn.test.v1.Checkin", regclient.SchemaInput{Text: checkinProto, References: refs}); err != nil {
		t.Fatal(err)
	}
	checkin := func(place []byte) []byte {
		b := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), newUUID())
		return protowire.AppendBytes(protowire.AppendTag(b, 2, protowire.BytesType), place)
	}
	named := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "the old mill")
	for _, tt := range []struct {
		name    string
		payload []byte
		code    codes.Code
	}{
		{"required field set", checkin(named), codes.OK},
		{"required field missing in a nested message", checkin(nil), codes.InvalidArgument},
	} {
		req := event(t, player(newUUID(), "Ada"))
		req.Event.Payload = &anypb.Any{TypeUrl: "type.googleapis.com/cairn.test.v1.Checkin", Value: tt.payload}
		_, err := s.client.Publish(t.Context(), req)
		if status.Code(err) != tt.code {
			t.Errorf("%s: Publish = %v, want %v", tt.name, err, tt.code)
		}
		if tt.code != codes.OK && !strings.Contains(status.Convert(err).Message(), "required field") {
			t.Errorf("%s: Publish = %v, want the missing required field named", tt.name, err)
		}
	}
}
