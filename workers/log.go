package workers

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/cairnhq/cairn/internal/wire"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// jsonValue logs a message as ProtoJSON: nested JSON under a JSON handler,
// a JSON string under a text handler.
type jsonValue struct{ m protoreflect.Message }

func (v jsonValue) LogValue() slog.Value {
	b, err := protojson.Marshal(v.m.Interface())
	if err != nil {
		return slog.StringValue("<" + err.Error() + ">")
	}
	return slog.AnyValue(json.RawMessage(b))
}

// LogHandler returns a handler that logs each event, decoded, as JSON.
func LogHandler(log *slog.Logger) Handler {
	return func(_ context.Context, ev *Event) error {
		log.Info("event",
			"type", string(ev.Type.Name()),
			"event_id", ev.Header(wire.HeaderEventID),
			"topic", ev.Topic, "partition", ev.Partition, "offset", ev.Offset,
			"payload", jsonValue{ev.Message})
		return nil
	}
}
