package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// direct runs the mode's load straight to Kafka, through the same
// producer the gateway uses, with records framed as the gateway frames
// them: the schema id and topic come from the probe event's answer.
func (r *runner) direct(ctx context.Context, probe *gatewayv1.PublishResponse) (*Result, error) {
	producer, err := r.producer(ctx)
	if err != nil {
		return nil, err
	}
	d := &directRecords{src: r.src, topic: probe.GetTopic(), schemaID: probe.GetSchemaId(), values: make([][]byte, len(r.src.payloads))}
	for i, a := range r.src.payloads {
		d.values[i] = wire.Append(nil, wire.Header{SchemaID: d.schemaID}, a.GetValue())
	}
	var l load
	switch r.cfg.Mode {
	case Batch:
		l = d.batch(producer, r.cfg)
	case Stream:
		l = d.pipeline(producer, r.cfg)
	default:
		l = d.unary(producer, r.cfg)
	}
	res, err := r.measure(ctx, "direct", l)
	cctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	if cerr := producer.Close(cctx); cerr != nil && err == nil {
		err = cerr
	}
	return res, err
}

// checkDirect fails, before any load, when the Kafka that --direct names
// does not answer: better than learning it after the gateway's run.
func (r *runner) checkDirect(ctx context.Context) error {
	producer, err := r.producer(ctx)
	if err != nil {
		return err
	}
	return producer.Close(ctx)
}

// producer returns a producer with the gateway's settings, once Kafka has
// answered it.
func (r *runner) producer(ctx context.Context) (*kafkax.Producer, error) {
	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: r.cfg.KafkaBrokers, DeliveryTimeout: r.cfg.Timeout})
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, min(r.cfg.Timeout, 5*time.Second))
	err = producer.Ping(pctx)
	cancel()
	if err != nil {
		_ = producer.Close(ctx)
		return nil, fmt.Errorf("direct: kafka unreachable at %s: %w", r.cfg.KafkaBrokers, err)
	}
	return producer, nil
}

// directRecords builds the records the gateway would produce for the
// bench's events.
type directRecords struct {
	src      *playerEvents
	topic    string
	schemaID int32
	values   [][]byte // framed payloads, by player
}

func (d *directRecords) record(n int64) kafkax.Record {
	ev := d.src.event(n)
	i := n % int64(len(d.values))
	return kafkax.Record{Topic: d.topic, Key: []byte(d.src.players[i].GetPlayerId()), Value: d.values[i], Headers: append(
		wire.AppendEventHeaders(make([]kafkax.Header, 0, 5), ev.GetEventId(), string(d.src.players[i].ProtoReflect().Descriptor().FullName()), d.schemaID),
		kafkax.Header{Key: wire.HeaderOccurredAt, Value: ev.GetOccurredAt().AsTime().AppendFormat(nil, time.RFC3339Nano)},
		kafkax.Header{Key: wire.HeaderPrincipal, Value: []byte("key:bench")},
	)}
}

// kafkaReason names a Kafka failure for the errors column.
func kafkaReason(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return "kafka: " + s
}

// unary sends one record per worker at a time and waits for its report.
func (d *directRecords) unary(p *kafkax.Producer, cfg Config) load {
	return func(ctx context.Context, _ int, pl *plan, t *tally) error {
		for {
			n, got := pl.take(ctx, 1)
			if got == 0 {
				return nil
			}
			rec := d.record(n)
			t.send(1)
			began := time.Now()
			wait, err := p.Send(rec)
			if err == nil {
				_, err = wait(ctx, time.Now().Add(cfg.Timeout))
			}
			if err != nil {
				t.fail(kafkaReason(err), 1)
				continue
			}
			t.accept(time.Since(began))
		}
	}
}

// batch sends BatchSize records and waits for all their reports, as the
// gateway's PublishBatch does.
func (d *directRecords) batch(p *kafkax.Producer, cfg Config) load {
	return func(ctx context.Context, _ int, pl *plan, t *tally) error {
		for {
			first, got := pl.take(ctx, cfg.BatchSize)
			if got == 0 {
				return nil
			}
			recs := make([]kafkax.Record, got)
			for j := range recs {
				recs[j] = d.record(first + int64(j))
			}
			t.send(got)
			began := time.Now()
			wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
			_, err := p.ProduceBatch(wctx, recs)
			cancel()
			if err != nil {
				t.fail(kafkaReason(err), got)
				continue
			}
			took := time.Since(began)
			for range got {
				t.accept(took)
			}
		}
	}
}

// pipeline keeps Window records in flight per worker, as a stream does.
// Reports are awaited oldest first, so a record acknowledged before an
// older one counts until the older one's report: its latency is an upper
// bound.
func (d *directRecords) pipeline(p *kafkax.Producer, cfg Config) load {
	type flight struct {
		wait  kafkax.Wait
		began time.Time
	}
	return func(ctx context.Context, _ int, pl *plan, t *tally) error {
		ring := make([]flight, cfg.Window) // the oldest at head
		head, size := 0, 0
		wait := func() {
			f := ring[head]
			head, size = (head+1)%len(ring), size-1
			_, err := f.wait(ctx, time.Now().Add(cfg.Timeout))
			if err != nil {
				t.fail(kafkaReason(err), 1)
				return
			}
			t.accept(time.Since(f.began))
		}
		for {
			n, got := pl.take(ctx, 1)
			if got == 0 {
				break
			}
			if size == len(ring) {
				wait()
			}
			rec := d.record(n)
			t.send(1)
			began := time.Now()
			wait, err := p.Send(rec)
			if err != nil {
				t.fail(kafkaReason(err), 1)
				continue
			}
			ring[(head+size)%len(ring)] = flight{wait, began}
			size++
		}
		for size > 0 {
			wait()
		}
		return nil
	}
}
