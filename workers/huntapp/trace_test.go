package huntapp_test

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/workertest"
)

// TestOneTraceAcrossThePipeline publishes an answer through a tracing
// gateway to a tracing worker and follows its trace: the gateway's publish
// span, the worker's apply span under it, the relay's produce span of the
// judgement under that, the judgement's record in Kafka carrying the relay
// span's context, and the WatchPlayer feed's span handing it to the
// player's stream: one trace id from the call to the player's screen.
func TestOneTraceAcrossThePipeline(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	e := newEnv(t, sqldb.SQLite)
	gw := startGateway(t, e, func(c *gateway.Config) { c.TracerProvider = tp })
	r := e.startWorker(t, "traced", func(c *workers.Config) { c.TracerProvider = tp })
	hs := serve(t, r.app)
	applied := func(n float64) func() error {
		return func() error {
			if got := r.Counter(t, "cairn_worker_events_applied_total"); got < n {
				return fmt.Errorf("%v events applied, want %v", got, n)
			}
			return nil
		}
	}

	// The hunt and the player come first, on their own topics: the join
	// and the answer wait for them, so no order across partitions matters.
	huntID, player := workertest.NewID(), workertest.NewID()
	clues := [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}
	publish(t, gw, workertest.NewID(), scriptedHunt(huntID, clues))
	publish(t, gw, workertest.NewID(), &huntv1.PlayerRegistered{PlayerId: player, DisplayName: "Ada", RegisteredAt: at(-30)})
	workertest.Eventually(t, "the hunt and the player applied", applied(2))
	publish(t, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: player, JoinedAt: at(-5)})
	workertest.Eventually(t, "the join applied", applied(3))
	stream := watch(t, hs, player)
	answerID := workertest.NewID()
	publish(t, gw, answerID, answer(huntID, player, clues[0], "oak", 3))
	var judgement string // the judgement's event id, as the player sees it
	for judgement == "" {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("WatchPlayer: %v", err)
		}
		if resp.GetAnswerJudged() != nil {
			judgement = resp.GetEventId()
		}
	}

	const judged = "cairn.hunt.v1.AnswerJudged"
	var pub, apply, relay tracetest.SpanStub
	workertest.Eventually(t, "the answer's spans", func() error {
		ended := spans.GetSpans()
		var ok bool
		if pub, ok = find(ended, "cairn.hunt.events publish", "messaging.message.id", answerID); !ok {
			return fmt.Errorf("no gateway publish span among %d", len(ended))
		}
		if apply, ok = find(ended, "cairn.hunt.events process", "messaging.message.id", answerID); !ok {
			return fmt.Errorf("no worker apply span among %d", len(ended))
		}
		for _, s := range ended {
			if s.Name == "cairn.hunt.derived publish" && s.SpanContext.TraceID() == pub.SpanContext.TraceID() && attrOf(s, "cairn.event_type") == judged {
				relay = s
				return nil
			}
		}
		return fmt.Errorf("no relay span of the judgement among %d", len(ended))
	})

	id := pub.SpanContext.TraceID()
	if pub.SpanKind != trace.SpanKindProducer || apply.SpanKind != trace.SpanKindConsumer || relay.SpanKind != trace.SpanKindProducer {
		t.Errorf("span kinds: publish %v, apply %v, relay %v; want producer, consumer, producer", pub.SpanKind, apply.SpanKind, relay.SpanKind)
	}
	if apply.SpanContext.TraceID() != id || apply.Parent.SpanID() != pub.SpanContext.SpanID() {
		t.Errorf("apply span in trace %s under %s, want trace %s under the gateway's publish span %s",
			apply.SpanContext.TraceID(), apply.Parent.SpanID(), id, pub.SpanContext.SpanID())
	}
	if relay.Parent.SpanID() != apply.SpanContext.SpanID() {
		t.Errorf("relay span under %s, want under the apply span %s", relay.Parent.SpanID(), apply.SpanContext.SpanID())
	}
	if got := attrOf(apply, "cairn.event_type"); got != "cairn.hunt.v1.AnswerSubmitted" {
		t.Errorf("apply span cairn.event_type = %q", got)
	}
	if attrOf(relay, "messaging.message.id") != judgement {
		t.Errorf("relay span of event %q, the player saw %q", attrOf(relay, "messaging.message.id"), judgement)
	}
	var watched tracetest.SpanStub
	workertest.Eventually(t, "the WatchPlayer span", func() error {
		var ok bool
		if watched, ok = find(spans.GetSpans(), "WatchPlayer", "messaging.message.id", judgement); !ok {
			return fmt.Errorf("no WatchPlayer span of %s", judgement)
		}
		return nil
	})
	if watched.Parent.SpanID() != relay.SpanContext.SpanID() || watched.SpanContext.TraceID() != id {
		t.Errorf("WatchPlayer span in %s under %s, want in %s under the relay span %s", watched.SpanContext.TraceID(), watched.Parent.SpanID(), id, relay.SpanContext.SpanID())
	}
	if got := attrOf(watched, "cairn.watchers"); got != "1" {
		t.Errorf("WatchPlayer span cairn.watchers = %s, want 1", got)
	}

	// The trace starts at the gateway's call: its root is the gRPC span.
	var root int
	for _, s := range spans.GetSpans() {
		if s.Name == "probe" {
			t.Errorf("a probe span was exported: %+v", s)
		}
		if s.SpanContext.TraceID() == id && !s.Parent.IsValid() {
			root++
			if s.SpanKind != trace.SpanKindServer {
				t.Errorf("root span %q is %v, want the gateway's server span", s.Name, s.SpanKind)
			}
		}
	}
	if root != 1 {
		t.Errorf("trace %s has %d roots, want 1", id, root)
	}

	// The judgement's record carries the relay span's context.
	var found bool
	for _, m := range workertest.ReadTopic(t, e.broker.Addr(), "cairn.hunt.derived", 2) {
		if m.Header(wire.HeaderEventType) != judged {
			continue
		}
		found = true
		carrier := propagation.MapCarrier{}
		for _, h := range m.Headers {
			carrier[h.Key] = string(h.Value)
		}
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), carrier))
		if sc.TraceID() != id || sc.SpanID() != relay.SpanContext.SpanID() {
			t.Errorf("judgement record's traceparent %q, want trace %s span %s", m.Header("traceparent"), id, relay.SpanContext.SpanID())
		}
	}
	if !found {
		t.Error("no judgement in cairn.hunt.derived")
	}
}

// find returns the ended span named name whose attribute key is value.
func find(spans tracetest.SpanStubs, name string, key attribute.Key, value string) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if s.Name == name && attrOf(s, key) == value {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

func attrOf(s tracetest.SpanStub, key attribute.Key) string {
	for _, a := range s.Attributes {
		if a.Key == key {
			return a.Value.Emit()
		}
	}
	return ""
}
