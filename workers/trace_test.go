package workers_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/internal/wire"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/workertest"
)

// produceTraced produces a deposit as the gateway does, carrying the trace
// context of ctx (none when ctx has no span).
func (e *env) produceTraced(t *testing.T, ctx context.Context, eventID string, m proto.Message) {
	t.Helper()
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	rec := kafkax.Record{
		Topic:   ledgerTopic,
		Key:     []byte(m.ProtoReflect().Get(e.deposit.KeyField()).String()),
		Value:   wire.Append(nil, wire.Header{SchemaID: e.deposit.SchemaID, Indexes: e.deposit.Indexes}, payload),
		Headers: []kafkax.Header{{Key: wire.HeaderEventID, Value: []byte(eventID)}},
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	for k, v := range carrier {
		rec.Headers = append(rec.Headers, kafkax.Header{Key: k, Value: []byte(v)})
	}
	if _, err := e.producer.ProduceBatch(t.Context(), []kafkax.Record{rec}); err != nil {
		t.Fatal(err)
	}
}

// spanWith returns the ended span whose attribute key is value.
func spanWith(spans tracetest.SpanStubs, name string, key attribute.Key, value string) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if s.Name != name {
			continue
		}
		for _, a := range s.Attributes {
			if a.Key == key && a.Value.Emit() == value {
				return s, true
			}
		}
	}
	return tracetest.SpanStub{}, false
}

func attr(s tracetest.SpanStub, key attribute.Key) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// recordTrace returns the span context a record's traceparent names.
func recordTrace(m *kafkax.Message) trace.SpanContext {
	carrier := propagation.MapCarrier{}
	for _, h := range m.Headers {
		carrier[h.Key] = string(h.Value)
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
}

// TestTracesContinue: a record carrying trace context is applied under a
// consumer span that continues its trace; the event it derives is stored
// with that span's context and produced under a producer span of the same
// trace, whose context its record carries. A record without trace context
// gets no span, and neither does what it derives.
func TestTracesContinue(t *testing.T) {
	for _, engine := range sqldbtest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			e := newEnv(t, engine)
			spans := tracetest.NewInMemoryExporter()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			e.startWorker(t, "traced-"+string(engine), ledger{}, func(c *workers.Config) { c.TracerProvider = tp })

			// The client's span: the gateway's, as far as the worker knows.
			clientCtx, client := tp.Tracer("client").Start(t.Context(), "client publish")
			client.End()
			traced, untraced, refused := workertest.NewID(), workertest.NewID(), workertest.NewID()
			e.produceTraced(t, clientCtx, traced, e.depositMsg("alice", 5))
			e.produceTraced(t, t.Context(), untraced, e.depositMsg("bob", 7))
			e.produceTraced(t, clientCtx, refused, e.depositMsg("carol", -3))

			var apply, relay tracetest.SpanStub
			workertest.Eventually(t, "the apply and relay spans", func() error {
				ended := spans.GetSpans()
				var ok bool
				if apply, ok = spanWith(ended, ledgerTopic+" process", "messaging.message.id", traced); !ok {
					return fmt.Errorf("no apply span among %d", len(ended))
				}
				if _, ok = spanWith(ended, ledgerTopic+" process", "messaging.message.id", refused); !ok {
					return fmt.Errorf("no apply span of the refused event among %d", len(ended))
				}
				derived := workers.DerivedEventID(traced, "ledger.v1.BalanceChanged")
				if relay, ok = spanWith(ended, balancesTopic+" publish", "messaging.message.id", derived); !ok {
					return fmt.Errorf("no relay span among %d", len(ended))
				}
				return nil
			})
			want := client.SpanContext()
			if apply.Parent.SpanID() != want.SpanID() || apply.SpanContext.TraceID() != want.TraceID() {
				t.Errorf("apply span in %s under %s, want a child of the record's %s/%s", apply.SpanContext.TraceID(), apply.Parent.SpanID(), want.TraceID(), want.SpanID())
			}
			if apply.SpanKind != trace.SpanKindConsumer {
				t.Errorf("apply span kind %v, want consumer", apply.SpanKind)
			}
			for key, v := range map[attribute.Key]string{
				"messaging.destination.name":    ledgerTopic,
				"cairn.event_type":              "ledger.v1.Deposited",
				"messaging.consumer.group.name": "traced-" + string(engine),
			} {
				if got := attr(apply, key); got != v {
					t.Errorf("apply span %s = %q, want %q", key, got, v)
				}
			}
			if attr(apply, "messaging.kafka.offset") == "" {
				t.Error("apply span has no messaging.kafka.offset")
			}
			if rejected, _ := spanWith(spans.GetSpans(), ledgerTopic+" process", "messaging.message.id", refused); attr(rejected, "cairn.rejected") != "overdrawn" {
				t.Errorf("the refused event's span says cairn.rejected = %q, want overdrawn", attr(rejected, "cairn.rejected"))
			}
			if relay.Parent.SpanID() != apply.SpanContext.SpanID() || relay.SpanContext.TraceID() != want.TraceID() || relay.SpanKind != trace.SpanKindProducer {
				t.Errorf("relay span %v in %s under %s, want a producer child of the apply span %s", relay.SpanKind, relay.SpanContext.TraceID(), relay.Parent.SpanID(), apply.SpanContext.SpanID())
			}
			for _, s := range spans.GetSpans() {
				if attr(s, "messaging.message.id") == untraced || attr(s, "messaging.message.id") == workers.DerivedEventID(untraced, "ledger.v1.BalanceChanged") {
					t.Errorf("span %q for the event that carried no trace context", s.Name)
				}
			}

			// The derived records: the traced one carries the relay span's
			// context, the other none.
			recs := workertest.ReadTopic(t, e.broker.Addr(), balancesTopic, 2)
			if len(recs) != 2 {
				t.Fatalf("%d derived records, want 2", len(recs))
			}
			for _, m := range recs {
				sc := recordTrace(m)
				switch string(m.Key) {
				case "alice":
					if sc.TraceID() != want.TraceID() || sc.SpanID() != relay.SpanContext.SpanID() {
						t.Errorf("alice's derived record carries %s/%s, want %s/%s", sc.TraceID(), sc.SpanID(), want.TraceID(), relay.SpanContext.SpanID())
					}
				case "bob":
					if m.Header("traceparent") != "" {
						t.Errorf("bob's derived record carries traceparent %q, want none", m.Header("traceparent"))
					}
				}
			}
		})
	}
}

// TestTracingOff: a worker whose provider makes no spans does no tracing
// work: the trace context of a record is not carried on to what it
// derives, and the outbox stores none.
func TestTracingOff(t *testing.T) {
	e := newEnv(t, sqldb.SQLite)
	e.startWorker(t, "untraced", ledger{}, nil) // the global provider: OpenTelemetry's no-op
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("client").Start(t.Context(), "client publish")
	span.End()
	e.produceTraced(t, ctx, workertest.NewID(), e.depositMsg("dora", 4))
	recs := workertest.ReadTopic(t, e.broker.Addr(), balancesTopic, 1)
	if got := recs[0].Header("traceparent"); got != "" {
		t.Errorf("derived record carries traceparent %q with tracing off", got)
	}
}
