package wire

import (
	"strconv"

	"github.com/cairnhq/cairn/internal/kafkax"
)

// Record header names: what every Cairn record says about its event, for
// the workers and for any downstream reader. The W3C trace context
// (traceparent, tracestate) travels beside them under its own names.
const (
	// HeaderEventID is the event's id: the client's event_id, or a derived
	// event's DerivedEventID.
	HeaderEventID = "cairn-event-id"
	// HeaderEventType is the payload's full message name.
	HeaderEventType = "cairn-event-type"
	// HeaderSchemaID is the registry id of the payload's schema, in decimal
	// (the framing carries it too).
	HeaderSchemaID = "cairn-schema-id"
	// HeaderOccurredAt is when the client says the event happened, RFC 3339
	// with nanoseconds.
	HeaderOccurredAt = "cairn-occurred-at"
	// HeaderReceivedAt is when the gateway received the event, by its own
	// clock, RFC 3339 with nanoseconds in UTC. Unlike HeaderOccurredAt, which
	// the client chooses, it can be trusted for order, rates and elapsed time.
	HeaderReceivedAt = "cairn-received-at"
	// HeaderPrincipal is who published the event through the gateway.
	HeaderPrincipal = "cairn-principal"
)

// Dead-letter headers, added to a record's own when a worker sends it to
// the dead-letter topic: why (reason, error), where from (topic,
// partition, offset) and when (RFC 3339, UTC).
const (
	HeaderDLQReason    = "cairn-dlq-reason"
	HeaderDLQError     = "cairn-dlq-error"
	HeaderDLQTopic     = "cairn-dlq-topic"
	HeaderDLQPartition = "cairn-dlq-partition"
	HeaderDLQOffset    = "cairn-dlq-offset"
	HeaderDLQTime      = "cairn-dlq-time"
)

// AppendEventHeaders appends the headers every Cairn record carries (event
// id, type and schema id) to dst and returns the extended slice. Their
// values share one allocation.
func AppendEventHeaders(dst []kafkax.Header, eventID, eventType string, schemaID int32) []kafkax.Header {
	buf := make([]byte, 0, len(eventID)+len(eventType)+11) // 11: an int32 in decimal
	buf = append(buf, eventID...)
	buf = append(buf, eventType...)
	buf = strconv.AppendInt(buf, int64(schemaID), 10)
	typeEnd := len(eventID) + len(eventType)
	return append(dst,
		kafkax.Header{Key: HeaderEventID, Value: buf[:len(eventID):len(eventID)]},
		kafkax.Header{Key: HeaderEventType, Value: buf[len(eventID):typeEnd:typeEnd]},
		kafkax.Header{Key: HeaderSchemaID, Value: buf[typeEnd:len(buf):len(buf)]},
	)
}

// The W3C trace context headers, beside the cairn-* ones.
const (
	HeaderTraceparent = "traceparent"
	HeaderTracestate  = "tracestate"
)

// HeaderCarrier lets an OpenTelemetry propagator read and write trace
// context in a record's headers (it is a propagation.TextMapCarrier). Set
// replaces a header of the same name. It is not safe for concurrent use.
type HeaderCarrier struct{ Headers *[]kafkax.Header }

// Get returns the value of the first header named key, or "".
func (c HeaderCarrier) Get(key string) string {
	for _, h := range *c.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Set sets the header named key to value, adding it when missing.
func (c HeaderCarrier) Set(key, value string) {
	for i, h := range *c.Headers {
		if h.Key == key {
			(*c.Headers)[i].Value = []byte(value)
			return
		}
	}
	*c.Headers = append(*c.Headers, kafkax.Header{Key: key, Value: []byte(value)})
}

// Keys returns the headers' names.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, len(*c.Headers))
	for i, h := range *c.Headers {
		keys[i] = h.Key
	}
	return keys
}
