package gateway

import (
	"strings"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/google/go-cmp/cmp"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// envelopeRules are the rules of gateway.proto's Event that plainEnvelope
// was written against. If the schema's rules change, this test fails:
// look at plainEnvelope again before updating them here.
func envelopeRules() map[string]*validate.FieldRules {
	return map[string]*validate.FieldRules{
		"event_id":    {Type: &validate.FieldRules_String_{String_: &validate.StringRules{WellKnown: &validate.StringRules_Uuid{Uuid: true}}}},
		"occurred_at": {Required: proto.Bool(true)},
		"payload":     {Required: proto.Bool(true)},
		"headers": {Type: &validate.FieldRules_Map{Map: &validate.MapRules{
			MaxPairs: proto.Uint64(16),
			Keys: &validate.FieldRules{
				Type: &validate.FieldRules_String_{String_: &validate.StringRules{Pattern: proto.String("^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")}},
				Cel: []*validate.Rule{{
					Id:         proto.String("header.reserved"),
					Message:    proto.String("header names starting with cairn- are reserved"),
					Expression: proto.String("!this.matches('^(?i)cairn-')"),
				}},
			},
			Values: &validate.FieldRules{Type: &validate.FieldRules_String_{String_: &validate.StringRules{MaxBytes: proto.Uint64(1024)}}},
		}}},
	}
}

// TestPlainEnvelopeAgreesWithRules checks that the envelope's rules are
// those plainEnvelope knows, and that it never passes an envelope
// protovalidate refuses, over ids, times, payloads and headers of every
// kind; and that it does pass the envelopes most events have.
func TestPlainEnvelopeAgreesWithRules(t *testing.T) {
	desc := (&gatewayv1.Event{}).ProtoReflect().Descriptor()
	if proto.HasExtension(desc.Options(), validate.E_Message) {
		t.Errorf("Event has message rules; plainEnvelope knows none")
	}
	got := make(map[string]*validate.FieldRules)
	for i := range desc.Fields().Len() {
		fd := desc.Fields().Get(i)
		got[string(fd.Name())], _ = proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	}
	if diff := cmp.Diff(envelopeRules(), got, protocmp.Transform()); diff != "" {
		t.Fatalf("the envelope's rules changed; check plainEnvelope (-known +schema):\n%s", diff)
	}

	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{
		"0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d10", "0B6C6F1E-4A1D-4C43-9B0E-6F2F1C9A7D10", "00000000-0000-0000-0000-000000000000",
		"", "0b6c6f1e4a1d4c439b0e6f2f1c9a7d10", "0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d1", "0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d100",
		"0b6c6f1e-4a1d-4c43-9b0e_6f2f1c9a7d10", "0b6c6f1g-4a1d-4c43-9b0e-6f2f1c9a7d10", "{0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d1}",
		"0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d1\x00", "0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7dé", " 0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d1",
		"urn:uuid:0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d10", strings.Repeat("-", 36),
	}
	for _, id := range ids {
		for _, at := range []*timestamppb.Timestamp{nil, timestamppb.Now(), {Seconds: -1}} {
			for _, payload := range []*anypb.Any{nil, {}, {TypeUrl: "type.googleapis.com/x.Y", Value: []byte{1}}} {
				for _, headers := range []map[string]string{nil, {}, {"trace": "1"}, {"cairn-x": "1"}} {
					ev := &gatewayv1.Event{EventId: id, OccurredAt: at, Payload: payload, Headers: headers}
					plain, verr := plainEnvelope(ev), v.Validate(&gatewayv1.PublishRequest{Event: ev})
					if plain && verr != nil {
						t.Errorf("plainEnvelope passes %v, which protovalidate refuses: %v", ev, verr)
					}
				}
			}
		}
	}
	common := &gatewayv1.Event{EventId: ids[0], OccurredAt: timestamppb.Now(), Payload: &anypb.Any{TypeUrl: "type.googleapis.com/x.Y"}}
	if !plainEnvelope(common) {
		t.Errorf("plainEnvelope does not pass %v", common)
	}
}

// FuzzPlainEnvelope checks plainEnvelope against protovalidate on any id.
func FuzzPlainEnvelope(f *testing.F) {
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Add("0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d10")
	f.Add("0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d1Z")
	f.Fuzz(func(t *testing.T, id string) {
		ev := &gatewayv1.Event{EventId: id, OccurredAt: timestamppb.Now(), Payload: &anypb.Any{}}
		if plainEnvelope(ev) && v.Validate(&gatewayv1.PublishRequest{Event: ev}) != nil {
			t.Fatalf("plainEnvelope passes id %q, which protovalidate refuses", id)
		}
	})
}

// TestEnvelopeTimes checks that envelopeTimes says what checkTimes says of
// the envelope, and that the envelope still holds no time it would miss:
// its only message fields are occurred_at, a Timestamp, and payload, an
// Any (whose inside checkTimes does not look into).
func TestEnvelopeTimes(t *testing.T) {
	desc := (&gatewayv1.Event{}).ProtoReflect().Descriptor()
	messages := make(map[string]string)
	for i := range desc.Fields().Len() {
		fd := desc.Fields().Get(i)
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				messages[string(fd.Name())] = string(fd.MapValue().Message().FullName())
			}
		case fd.Message() != nil:
			messages[string(fd.Name())] = string(fd.Message().FullName())
		}
	}
	if want := map[string]string{"occurred_at": "google.protobuf.Timestamp", "payload": "google.protobuf.Any"}; !cmp.Equal(want, messages) {
		t.Fatalf("the envelope's message fields are %v, not %v: look at envelopeTimes again", messages, want)
	}
	for _, at := range []*timestamppb.Timestamp{
		nil, timestamppb.Now(), {}, {Seconds: -62135596800}, {Seconds: -62135596801}, {Seconds: 253402300799, Nanos: 999_999_999},
		{Seconds: 253402300800}, {Nanos: -1}, {Nanos: 1_000_000_000},
	} {
		ev := &gatewayv1.Event{EventId: "x", OccurredAt: at, Payload: &anypb.Any{TypeUrl: "type.googleapis.com/x.Y"}, Headers: map[string]string{"k": "v"}}
		want, got := checkTimes(ev.ProtoReflect(), "event"), envelopeTimes(ev)
		if (want == nil) != (got == nil) || (want != nil && want.Error() != got.Error()) {
			t.Errorf("occurred_at %v: envelopeTimes says %v, checkTimes %v", at, got, want)
		}
	}
}
