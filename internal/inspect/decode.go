// Package inspect lets operators see what Cairn's topics hold: it decodes
// records through the schema registry (tail), and reads, explains and
// replays the dead letters workers set aside. It reads Kafka without a
// consumer group and never commits, so looking leaves no trace.
//
// A record that cannot be decoded is never an error here: it is shown as
// what it is (not framed, unknown schema, undecodable, registry down) with
// its bytes in base64.
package inspect

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
)

// Resolver finds the message type that a framed record's schema id and
// message indexes name. It returns an error wrapping ErrUnknownSchema when
// the registry answered that it does not know them; any other error means
// the registry could not be asked.
type Resolver interface {
	MessageType(ctx context.Context, schemaID int32, indexes []int) (protoreflect.MessageDescriptor, error)
}

// ErrUnknownSchema is wrapped by Resolver errors for schema ids the
// registry does not hold.
var ErrUnknownSchema = errors.New("schema not registered")

// Status says how far a record could be decoded.
type Status string

// The statuses of a decoded record.
const (
	// StatusDecoded: the payload decoded with its registered schema.
	StatusDecoded Status = "decoded"
	// StatusUnframed: the value is not in the registry's wire format.
	StatusUnframed Status = "unframed"
	// StatusUnknownSchema: the registry does not know the schema id.
	StatusUnknownSchema Status = "unknown_schema"
	// StatusUndecodable: the payload does not decode with its schema.
	StatusUndecodable Status = "undecodable"
	// StatusRegistryDown: the registry could not be asked.
	StatusRegistryDown Status = "registry_unavailable"
)

// Record is a record as an operator reads it.
type Record struct {
	Time      time.Time `json:"time"`
	Topic     string    `json:"topic"`
	Partition int32     `json:"partition"`
	Offset    int64     `json:"offset"`
	// Key is the key as text when it is UTF-8, else base64 (KeyBase64).
	Key       string `json:"key,omitempty"`
	KeyBase64 bool   `json:"key_base64,omitempty"`
	// Headers are the record's cairn-* headers, in order.
	Headers  []Header        `json:"headers,omitempty"`
	Status   Status          `json:"status"`
	Type     string          `json:"type,omitempty"`
	SchemaID int32           `json:"schema_id,omitempty"`
	Payload  json.RawMessage `json:"payload,omitempty"`
	// Error says why the record did not decode.
	Error string `json:"error,omitempty"`
	// Bytes is the value in base64 when it did not decode.
	Bytes string `json:"bytes,omitempty"`
}

// Header is one cairn-* header of a record.
type Header struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Header returns the value of the header named key, or "".
func (r *Record) Header(key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return h.Value
		}
	}
	return ""
}

// Decoder decodes records through a Resolver. It is safe for concurrent
// use if its Resolver is.
type Decoder struct {
	r Resolver
}

// NewDecoder returns a decoder resolving schemas with r.
func NewDecoder(r Resolver) *Decoder { return &Decoder{r: r} }

// Decode decodes m as far as it can. When the registry could not be asked,
// the record has StatusRegistryDown and err is that failure, so callers can
// warn; the record is still usable.
func (d *Decoder) Decode(ctx context.Context, m *kafkax.Read) (Record, error) {
	rec := Record{Time: m.Time.UTC(), Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	if utf8.Valid(m.Key) {
		rec.Key = string(m.Key)
	} else {
		rec.Key, rec.KeyBase64 = base64.StdEncoding.EncodeToString(m.Key), true
	}
	for _, h := range m.Headers {
		if strings.HasPrefix(h.Key, "cairn-") {
			rec.Headers = append(rec.Headers, Header{Key: h.Key, Value: string(h.Value)})
		}
	}
	undecoded := func(s Status, err error) {
		rec.Status, rec.Error = s, err.Error()
		rec.Bytes = base64.StdEncoding.EncodeToString(m.Value)
	}
	h, payload, err := wire.Parse(m.Value)
	if err != nil {
		undecoded(StatusUnframed, err)
		return rec, nil
	}
	rec.SchemaID = h.SchemaID
	md, err := d.r.MessageType(ctx, h.SchemaID, h.Indexes)
	switch {
	case errors.Is(err, ErrUnknownSchema):
		undecoded(StatusUnknownSchema, err)
		return rec, nil
	case err != nil:
		undecoded(StatusRegistryDown, err)
		return rec, fmt.Errorf("registry: %w", err)
	}
	rec.Type = string(md.FullName())
	msg := dynamicpb.NewMessage(md)
	if err := proto.Unmarshal(payload, msg); err != nil {
		undecoded(StatusUndecodable, fmt.Errorf("decode %s (schema id %d): %w", md.FullName(), h.SchemaID, err))
		return rec, nil
	}
	js, err := protojson.Marshal(msg)
	if err != nil {
		undecoded(StatusUndecodable, fmt.Errorf("%s as JSON: %w", md.FullName(), err))
		return rec, nil
	}
	rec.Status, rec.Payload = StatusDecoded, js
	return rec, nil
}
