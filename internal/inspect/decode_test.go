package inspect_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/inspect"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// schemas resolves the ids of compiled-in types; any other id is unknown,
// and down makes it fail as an unreachable registry does.
type schemas struct {
	byID map[int32]protoreflect.MessageDescriptor
	down bool
}

func (s schemas) MessageType(_ context.Context, id int32, _ []int) (protoreflect.MessageDescriptor, error) {
	if s.down {
		return nil, errors.New("dial tcp 127.0.0.1:1: connection refused")
	}
	if md, ok := s.byID[id]; ok {
		return md, nil
	}
	return nil, fmt.Errorf("schema id %d: %w", id, inspect.ErrUnknownSchema)
}

func TestDecode(t *testing.T) {
	t.Parallel()
	reg := schemas{byID: map[int32]protoreflect.MessageDescriptor{7: (&huntv1.PlayerRegistered{}).ProtoReflect().Descriptor()}}
	payload, err := proto.Marshal(&huntv1.PlayerRegistered{PlayerId: "p1", DisplayName: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	framed := wire.Append(nil, wire.Header{SchemaID: 7}, payload)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	msg := func(key string, value []byte) *kafkax.Read {
		return &kafkax.Read{Message: kafkax.Message{Topic: "t", Partition: 1, Offset: 5, Key: []byte(key), Value: value,
			Headers: []kafkax.Header{{Key: "cairn-event-id", Value: []byte("e1")}, {Key: "traceparent", Value: []byte("x")}}}, Time: at}
	}
	tests := []struct {
		name     string
		reg      schemas
		value    []byte
		status   inspect.Status
		regErr   bool
		wantLine string
	}{
		{"framed", reg, framed, inspect.StatusDecoded, false,
			`2026-12-01T10:00:00Z t/1@5 key="k" cairn-event-id=e1 cairn.hunt.v1.PlayerRegistered {"playerId":"p1","displayName":"Ada"}`},
		{"unframed", reg, []byte("hello"), inspect.StatusUnframed, false,
			`2026-12-01T10:00:00Z t/1@5 key="k" cairn-event-id=e1 [UNFRAMED] "malformed wire-format record: 5 bytes, need at least 6" bytes(base64)=aGVsbG8=`},
		{"unknown schema", reg, wire.Append(nil, wire.Header{SchemaID: 9}, payload), inspect.StatusUnknownSchema, false,
			`[UNKNOWN_SCHEMA] "schema id 9: schema not registered" bytes(base64)=`},
		{"undecodable", reg, wire.Append(nil, wire.Header{SchemaID: 7}, []byte{0xff, 0xff}), inspect.StatusUndecodable, false,
			`[UNDECODABLE] "decode cairn.hunt.v1.PlayerRegistered (schema id 7):`},
		{"registry down", schemas{down: true}, framed, inspect.StatusRegistryDown, true,
			`[REGISTRY_UNAVAILABLE] "connection refused"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := inspect.NewDecoder(tt.reg).Decode(t.Context(), msg("k", tt.value))
			if (err != nil) != tt.regErr {
				t.Fatalf("err = %v, want an error: %v", err, tt.regErr)
			}
			if rec.Status != tt.status {
				t.Errorf("status %s, want %s", rec.Status, tt.status)
			}
			if tt.status != inspect.StatusDecoded && rec.Bytes != base64.StdEncoding.EncodeToString(tt.value) {
				t.Errorf("bytes %q", rec.Bytes)
			}
			if len(rec.Headers) != 1 {
				t.Errorf("headers %v: want only the cairn-* one", rec.Headers)
			}
			line := inspect.TextLine(rec)
			if !strings.Contains(line, tt.wantLine) && !(tt.regErr && strings.Contains(line, "[REGISTRY_UNAVAILABLE]")) {
				t.Errorf("line\n%s\nwant it to contain\n%s", line, tt.wantLine)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	for in, ok := range map[string]bool{"0:1": true, "12:0": true, "1": false, "a:1": false, "1:-1": false, "-1:2": false, "": false, "1:2:3": false} {
		_, _, err := inspect.ParseID(in)
		if (err == nil) != ok {
			t.Errorf("ParseID(%q) = %v", in, err)
		}
	}
}

// FuzzDecode: no value, however hostile, makes the decoder fail or panic.
func FuzzDecode(f *testing.F) {
	payload, _ := proto.Marshal(&huntv1.PlayerRegistered{PlayerId: "p1"})
	f.Add(wire.Append(nil, wire.Header{SchemaID: 7}, payload))
	f.Add(wire.Append(nil, wire.Header{SchemaID: 7, Indexes: []int{1, 2}}, payload))
	f.Add([]byte{0, 0, 0, 0, 7, 0})
	f.Add([]byte("text"))
	dec := inspect.NewDecoder(schemas{byID: map[int32]protoreflect.MessageDescriptor{7: (&huntv1.PlayerRegistered{}).ProtoReflect().Descriptor()}})
	f.Fuzz(func(t *testing.T, value []byte) {
		rec, err := dec.Decode(context.Background(), &kafkax.Read{Message: kafkax.Message{Topic: "t", Key: value, Value: value}})
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if rec.Status == "" || (rec.Status != inspect.StatusDecoded && rec.Bytes == "" && len(value) > 0) {
			t.Fatalf("record %+v", rec)
		}
		_ = inspect.TextLine(rec)
	})
}
