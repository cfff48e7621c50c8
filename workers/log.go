package workers

import (
	"encoding/json"
	"log/slog"

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
