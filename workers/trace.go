package workers

import (
	"context"
	"errors"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/telemetry"
	"github.com/cairnhq/cairn/internal/wire"
)

// tracing continues the traces records carry: a consumer span for each
// event applied, a child of the record's trace context, and a producer
// span for each derived event relayed, a child of its cause's. A nil
// *tracing is tracing off: its methods do nothing and cost nothing.
type tracing struct {
	tracer trace.Tracer
	prop   propagation.TraceContext
	group  string
}

// newTracing returns the runtime's tracing through tp, or nil when tp
// makes no spans.
func newTracing(tp trace.TracerProvider, group string) *tracing {
	if !telemetry.MakesSpans(tp) {
		return nil
	}
	return &tracing{tracer: tp.Tracer("github.com/cairnhq/cairn/workers"), group: group}
}

// errRolledBack ends the spans of an attempt whose transaction was rolled
// back after the app applied the batch: the batch is applied again.
var errRolledBack = errors.New("the transaction was rolled back; the batch is applied again")

// startApply starts a span for each event that carries a valid trace
// context and keeps it in the event, for its derived events; it returns
// the events given spans. Events without trace context get none.
func (t *tracing) startApply(ctx context.Context, events []*Event) []*Event {
	if t == nil {
		return nil
	}
	var traced []*Event
	for _, ev := range events {
		ev.span = nil
		if ev.Header(wire.HeaderTraceparent) == "" {
			continue
		}
		parent := t.prop.Extract(ctx, wire.HeaderCarrier{Headers: &ev.Headers})
		if !trace.SpanContextFromContext(parent).IsValid() {
			continue
		}
		_, ev.span = t.tracer.Start(parent, ev.Topic+" process",
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.operation.type", "process"),
				attribute.String("messaging.destination.name", ev.Topic),
				attribute.String("messaging.destination.partition.id", strconv.Itoa(int(ev.Partition))),
				attribute.Int64("messaging.kafka.offset", ev.Offset),
				attribute.String("messaging.consumer.group.name", t.group),
				attribute.String("messaging.message.id", ev.EventID),
				attribute.String("cairn.event_type", string(ev.Type.Name())),
				attribute.Int("cairn.batch_size", len(events)),
			))
		traced = append(traced, ev)
	}
	return traced
}

// endApply ends the spans startApply started: applied, or failed with
// err. Rejections are recorded on their events' spans.
func endApply(traced []*Event, rejected []Rejection, err error) {
	if len(traced) == 0 {
		return
	}
	for _, rej := range rejected {
		if rej.Event.span != nil {
			rej.Event.span.SetAttributes(attribute.String("cairn.rejected", rej.Reason))
		}
	}
	for _, ev := range traced {
		if err != nil {
			ev.span.RecordError(err)
			ev.span.SetStatus(codes.Error, "apply failed")
		}
		ev.span.End()
	}
}

// traceContext returns the W3C trace context of the span applying cause,
// to be stored with its derived events; "" when it was not traced.
func (t *tracing) traceContext(cause *Event) (traceparent, tracestate string) {
	if t == nil || cause.span == nil {
		return "", ""
	}
	c := propagation.MapCarrier{}
	t.prop.Inject(trace.ContextWithSpan(context.Background(), cause.span), c)
	return c[wire.HeaderTraceparent], c[wire.HeaderTracestate]
}

// startRelay starts a producer span for each derived event whose cause was
// traced, a child of the cause's apply span, and writes its context into
// the record's headers. With tracing off, a stored trace context is
// written as it is. The spans are the rows' (nil where not traced), or nil
// when none is.
func (t *tracing) startRelay(rows []outboxRow, recs []kafkax.Record) []trace.Span {
	var spans []trace.Span
	for i, row := range rows {
		if row.Traceparent == "" {
			continue
		}
		stored := propagation.MapCarrier{wire.HeaderTraceparent: row.Traceparent}
		if row.Tracestate != "" {
			stored[wire.HeaderTracestate] = row.Tracestate
		}
		if t == nil {
			for _, k := range []string{wire.HeaderTraceparent, wire.HeaderTracestate} {
				if v := stored[k]; v != "" {
					recs[i].Headers = append(recs[i].Headers, kafkax.Header{Key: k, Value: []byte(v)})
				}
			}
			continue
		}
		parent := t.prop.Extract(context.Background(), stored)
		ctx, span := t.tracer.Start(parent, recs[i].Topic+" publish",
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("messaging.destination.name", recs[i].Topic),
				attribute.String("messaging.message.id", row.EventID),
				attribute.String("cairn.event_type", string(row.Type)),
			))
		t.prop.Inject(ctx, wire.HeaderCarrier{Headers: &recs[i].Headers})
		if spans == nil {
			spans = make([]trace.Span, len(rows))
		}
		spans[i] = span
	}
	return spans
}

// endRelay ends the relay's spans: produced, or failed with err.
func endRelay(spans []trace.Span, err error) {
	for _, s := range spans {
		if s == nil {
			continue
		}
		if err != nil {
			s.RecordError(err)
			s.SetStatus(codes.Error, "produce failed")
		}
		s.End()
	}
}
