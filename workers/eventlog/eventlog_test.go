package eventlog_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry/registrytest"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/eventlog"
)

func TestApplyLogsDecodedPayload(t *testing.T) {
	t.Parallel()
	_, reg, _ := registrytest.Hunt(t)
	typ, err := reg.Resolve(t.Context(), "cairn.hunt.v1.PlayerRegistered")
	if err != nil {
		t.Fatal(err)
	}
	app := eventlog.New(nil)
	if in := app.Inputs(); !in.All {
		t.Errorf("Inputs() = %+v, want every type", in)
	}
	// A dynamic message, as the runtime decodes a type nobody compiled in.
	msg := dynamicpb.NewMessage(typ.Descriptor)
	msg.Set(typ.Descriptor.Fields().ByName("display_name"), protoreflect.ValueOfString("Ada"))
	for _, m := range []*workers.Event{
		{Topic: "cairn.player.events", Offset: 4, Type: typ, Message: msg},
		{Topic: "cairn.player.events", Offset: 5, Type: typ, Message: &huntv1.PlayerRegistered{DisplayName: "Ada"}},
	} {
		var buf bytes.Buffer
		app := eventlog.New(slog.New(slog.NewJSONHandler(&buf, nil)))
		res, err := app.Apply(t.Context(), nil, []*workers.Event{m})
		if err != nil || len(res.Derived)+len(res.Rejected) != 0 {
			t.Fatalf("Apply = %+v, %v", res, err)
		}
		var line struct {
			Type    string
			Offset  int64
			Payload map[string]any
		}
		if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
			t.Fatalf("log line %q: %v", buf.String(), err)
		}
		if line.Type != "cairn.hunt.v1.PlayerRegistered" || line.Offset != m.Offset || line.Payload["displayName"] != "Ada" {
			t.Errorf("log line = %s", buf.String())
		}
	}
}
