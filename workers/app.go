package workers

import (
	"context"
	"database/sql"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/registry/regclient"
)

// App is the application a Worker runs: what it reads, the tables it
// keeps, and what it does with a batch of events. The runtime never looks
// inside an event; the app never sees Kafka, offsets or the outbox.
type App interface {
	// Inputs says which event types the app applies and how they are
	// decoded. It is read once, by New.
	Inputs() Inputs
	// Migrations returns the statements creating the app's tables in a
	// database of the given engine, in order; New runs each once. Nil for
	// an app that keeps no tables.
	Migrations(engine sqldb.Engine) []string
	// Apply applies a partition's events, in log order, inside tx: the
	// runtime's transaction, which also records the events' ids, writes
	// the derived events to the outbox and saves the partition's offset.
	// Events applied before are not given again.
	//
	// An error rolls the whole batch back and it is applied again later:
	// return one only for what a retry may fix (the database). An event
	// the app refuses for good is a Rejection: its id is recorded and it
	// is never given again. With no database (Config.DB nil), tx is nil
	// and events may be given again after a crash.
	Apply(ctx context.Context, tx *sql.Tx, events []*Event) (Result, error)
}

// Preparer is an App that prepares statements on the database once its
// tables exist: New calls Prepare after the migrations, before any batch,
// while no transaction holds a connection (SQLite has one).
type Preparer interface {
	Prepare(ctx context.Context, db *sqldb.DB) error
}

// Inputs are the event types an app applies. Records of other types are
// skipped; records that are not a registered type are dead-lettered.
type Inputs struct {
	// Types are the full names of the types applied.
	Types []protoreflect.FullName
	// All applies every registered type, Types or not, including types
	// registered while the worker runs.
	All bool
	// GoTypes, when set, decodes the types it holds into their generated Go
	// types (protoregistry.GlobalTypes holds every type linked into the
	// binary). Other types are decoded as dynamic messages
	// (dynamicpb), from the descriptor the registry holds.
	GoTypes protoregistry.MessageTypeResolver
}

// Event is one decoded record.
type Event struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Headers   []kafkax.Header
	// EventID is the cairn-event-id header, or topic/partition/offset for a
	// record without one.
	EventID string
	// Principal is who published the event (the cairn-principal header):
	// event ids are unique per principal, so the runtime records
	// (Principal, EventID) as applied. "" for a record without one.
	Principal string
	// ReceivedAt is when the gateway received the event (the
	// cairn-received-at header), or, for a record without a valid one, the
	// Kafka record's timestamp. Never a time the client claims.
	ReceivedAt time.Time
	// Type is the registered type of the payload.
	Type *regclient.Type
	// Message is the decoded payload: a generated Go type when the app's
	// Inputs.GoTypes holds it, a dynamic message otherwise.
	Message proto.Message

	// span is the span applying the event, when the worker traces and the
	// record carried trace context; its derived events continue it.
	span trace.Span
}

// Header returns the value of the record header named key, or "".
func (e *Event) Header(key string) string {
	for _, h := range e.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// Result is what an app did with a batch.
type Result struct {
	// Derived are the events to produce, in order. Each is produced to the
	// topic its registered type names, under an id derived from its cause
	// and type: at most one derived event of a type per cause.
	Derived []Derived
	// Rejected are the events the app refused for good; the others were
	// applied.
	Rejected []Rejection
}

// Derived is an event an app derives from one of a batch's events.
type Derived struct {
	// Cause is the event it derives from.
	Cause *Event
	// Key is the record key, which picks the partition.
	Key []byte
	// Message is the event; its full name is its registered type.
	Message proto.Message
}

// Rejection is an event an app refused for good: a decision, the same on
// every replay, not a failure.
type Rejection struct {
	Event *Event
	// Reason is a short, stable code (a metric label).
	Reason string
	// Detail says more, for the log.
	Detail string
}
