package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Reasons a record is dead-lettered, in the cairn-dlq-reason header.
const (
	ReasonUndecodable   = "undecodable"
	ReasonUnknownSchema = "unknown_schema"
)

// partition is one assigned partition and the goroutine applying it.
type partition struct {
	w      *Worker
	key    tpKey
	log    *slog.Logger
	q      chan *kafkax.Message
	done   chan struct{}
	cancel context.CancelFunc

	// The polling goroutine's.
	startAt int64 // the offset assigned
	next    int64 // the next offset to queue; -1 until known
	paused  bool  // the partition was stuck: records are dropped until resume
	failed  bool  // stopped by the fail offset policy

	// Batches the partition goroutine took from q: while it grows, a full
	// queue is a busy partition, not a stuck one.
	taken atomic.Uint64
	// rewound is an offset the polling goroutine sent the partition back
	// to, below records applied already, after the log shrank under it
	// (checkRanges); -1 when none waits for the partition goroutine.
	rewound atomic.Int64

	// The partition goroutine's (set before it starts).
	saved     int64 // the offset the store holds, or noOffset
	skipBelow int64 // records below it were applied already

	// The partition goroutine's: derived events handed to Kafka but not
	// yet marked sent, oldest first (the relay in flight), and the batches
	// whose every event Kafka has acknowledged, by the offsets they saved,
	// to be marked sent with a later batch; markedAt is when acknowledged
	// batches were last marked.
	inflight []relaying
	acked    []int64
	markedAt time.Time
}

// relaying is a derived event handed to Kafka.
type relaying struct {
	batch int64 // the offset its batch saved: the batch's key in the outbox
	last  bool  // the batch's last event
	wait  kafkax.Wait
	span  trace.Span // nil unless traced
}

// maxInflight bounds the derived events a partition has in flight before
// it waits for Kafka's acknowledgements.
const maxInflight = 10_000

// settleAfter is how long a partition with nothing to apply waits for
// more before it marks its relay sent on its own.
const settleAfter = 20 * time.Millisecond

// Acknowledged batches are marked sent with the batch that follows
// markEvery after the last marking, or sooner once maxUnmarked are
// waiting. Marking deletes their outbox rows. A partition that drains
// marks what it holds before it stops; one abandoned at the drain timeout,
// or a worker that dies, leaves events acknowledged but unmarked, produced
// again (with the same ids) by the next owner, as after any crash between
// producing and marking; so are the events of a batch whose every event
// was not acknowledged.
const (
	markEvery   = 100 * time.Millisecond
	maxUnmarked = 1_000
)

// poison is a record no retry can handle.
type poison struct {
	m      *kafkax.Message
	reason string
	err    error
}

func (p *partition) run(ctx context.Context) {
	defer close(p.done)
	defer func() {
		for _, r := range p.inflight {
			endRelay([]trace.Span{r.span}, errRelayStopped)
		}
	}()
	if p.w.store != nil && !p.retry(ctx, "produce the outbox", func() error { return p.relay(ctx) }) {
		return
	}
	max := p.w.cfg.MaxBatch
	batch := make([]*kafkax.Message, 0, max)
	idle := time.NewTimer(settleAfter)
	idle.Stop()
	defer idle.Stop()
	for {
		m, ok := p.receive(ctx, idle)
		if ctx.Err() != nil {
			return
		}
		if !ok {
			p.settle(ctx)
			return
		}
		batch = append(batch[:0], m)
	fill:
		for len(batch) < max {
			select {
			case m, ok := <-p.q:
				if !ok {
					break fill
				}
				batch = append(batch, m)
			default:
				break fill
			}
		}
		p.taken.Add(1)
		p.handle(ctx, batch)
		if ctx.Err() != nil {
			return
		}
	}
}

// receive returns the next record queued, or !ok when the queue is closed
// or ctx ends. With nothing queued, the relay in flight is marked sent
// with the next batch or, when none comes within settleAfter, on its own.
func (p *partition) receive(ctx context.Context, idle *time.Timer) (*kafkax.Message, bool) {
	select {
	case m, ok := <-p.q:
		return m, ok
	default:
	}
	if len(p.inflight) > 0 || len(p.acked) > 0 {
		idle.Reset(settleAfter)
		select {
		case m, ok := <-p.q:
			idle.Stop()
			return m, ok
		case <-idle.C:
			if !p.settle(ctx) {
				return nil, false
			}
		case <-ctx.Done():
			idle.Stop()
			return nil, false
		}
	}
	select {
	case m, ok := <-p.q:
		return m, ok
	case <-ctx.Done():
		return nil, false
	}
}

// retry runs f until it succeeds or ctx ends, waiting longer after each
// failure. It reports whether f succeeded.
func (p *partition) retry(ctx context.Context, what string, f func() error) bool {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		p.w.metrics.retries.WithLabelValues(p.key.topic).Inc()
		wait := backoff(attempt, p.w.cfg.RetryBackoff, p.w.cfg.MaxRetryBackoff)
		p.log.Warn(what+" failed; retrying", "error", err, "attempt", attempt+1, "wait", wait)
		sleep(ctx, wait)
	}
}

func backoff(attempt int, first, max time.Duration) time.Duration {
	d := first
	for range min(attempt, 20) {
		d *= 2
		if d >= max {
			return max
		}
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// handle applies a batch of records, retrying transient failures until it
// succeeds or ctx ends.
func (p *partition) handle(ctx context.Context, batch []*kafkax.Message) {
	if to := p.rewound.Swap(-1); to >= 0 && to < p.skipBelow && !p.rewind(ctx, to) {
		return
	}
	for len(batch) > 0 && batch[0].Offset < p.skipBelow {
		batch = batch[1:]
	}
	if len(batch) == 0 {
		return
	}
	next := batch[len(batch)-1].Offset + 1
	var (
		events  []*Event
		bad     []poison
		skipped int
	)
	if !p.retry(ctx, "decode records", func() error {
		events, bad, skipped = events[:0], bad[:0], 0
		for _, m := range batch {
			ev, pz, err := p.decode(ctx, m)
			switch {
			case err != nil:
				return err
			case pz != nil:
				bad = append(bad, *pz)
			case ev == nil:
				skipped++
			default:
				events = append(events, ev)
			}
		}
		return nil
	}) {
		return
	}
	if len(bad) > 0 && !p.retry(ctx, "dead-letter records", func() error { return p.deadLetter(ctx, bad) }) {
		return
	}
	if skipped > 0 {
		p.w.metrics.skipped.WithLabelValues(p.key.topic).Add(float64(skipped))
	}
	if p.w.store != nil {
		if !p.apply(ctx, events, next) {
			return
		}
	} else if len(events) > 0 && !p.applyStateless(ctx, events) {
		return
	}
	if err := p.w.c.StoreOffset(p.key.topic, p.key.id, next); err != nil {
		p.log.Debug("store offset for the Kafka commit", "error", err)
	}
	if _, high, err := p.w.c.CachedWatermarks(p.key.topic, p.key.id); err == nil && high >= 0 {
		p.w.metrics.lag.WithLabelValues(p.key.topic, strconv.Itoa(int(p.key.id))).Set(float64(max(high-next, 0)))
	}
}

// rewind follows the polling goroutine back to offset to, below the
// records applied already: the records read again are checked against the
// applied event ids, as at a start from the log's beginning, rather than
// dropped by their offsets, which a shrunken log gives to other records.
// The relay in flight is seen through first: an outbox row is keyed by
// the offset its batch saved, which only grew until now. It reports false
// when ctx ended first.
func (p *partition) rewind(ctx context.Context, to int64) bool {
	if p.w.store != nil && !p.settle(ctx) {
		return false
	}
	p.log.Info("reading again from a lower offset; events applied before are skipped by id", "offset", to, "was", p.skipBelow)
	p.skipBelow = to
	return true
}

// applyStateless has the app apply a batch with no transaction: at least
// once, deriving nothing.
func (p *partition) applyStateless(ctx context.Context, events []*Event) bool {
	var res Result
	if !p.retry(ctx, "apply batch", func() error {
		traced := p.w.tracing.startApply(ctx, events)
		var err error
		res, err = p.w.cfg.App.Apply(ctx, nil, events)
		endApply(traced, res.Rejected, err)
		return err
	}) {
		return false
	}
	if len(res.Derived) > 0 {
		p.log.Error("derived events dropped: the worker has no database for an outbox", "derived", len(res.Derived))
	}
	p.w.metrics.applied.WithLabelValues(p.key.topic).Add(float64(len(events) - len(res.Rejected)))
	p.rejected(res.Rejected)
	return true
}

func (p *partition) rejected(rs []Rejection) {
	for _, rej := range rs {
		p.w.metrics.rejected.WithLabelValues(rej.Reason).Inc()
		p.log.Info("event rejected by the app", "event_id", rej.Event.EventID, "type", rej.Event.Type.Name(), "reason", rej.Reason, "detail", rej.Detail)
	}
}

// apply applies a batch in one transaction, marking sent the derived
// events Kafka has acknowledged since the last, then hands its derived
// events to Kafka without waiting: the next batch is applied while they
// travel. It reports false when ctx ended first.
func (p *partition) apply(ctx context.Context, events []*Event, next int64) bool {
	if !p.collect(ctx, len(p.inflight) >= maxInflight) {
		return false
	}
	start := time.Now()
	var sent []int64
	if len(p.acked) >= maxUnmarked || start.Sub(p.markedAt) >= markEvery {
		sent = p.acked
	}
	var res batchResult
	done := false
	if !p.retry(ctx, "apply batch", func() error {
		var err error
		res, err = p.w.store.applyBatch(ctx, p.key.topic, p.key.id, p.saved, events, next, sent)
		if !errors.Is(err, errFenced) {
			return err
		}
		saved, lerr := p.w.store.offset(ctx, p.key.topic, p.key.id)
		if lerr != nil {
			return lerr
		}
		p.log.Warn("another worker applied records of this partition; skipping them", "saved_offset", saved)
		p.saved, p.skipBelow = saved, max(p.skipBelow, saved)
		kept := events[:0]
		for _, ev := range events {
			if ev.Offset >= saved {
				kept = append(kept, ev)
			}
		}
		events = kept
		if saved >= next {
			res, done = batchResult{}, true
			return nil
		}
		return err
	}) {
		return false
	}
	if !done {
		if sent != nil {
			p.acked, p.markedAt = p.acked[:0], start // marked sent with the batch
		}
		p.saved = next
	}
	p.w.metrics.batch.Observe(time.Since(start).Seconds())
	p.w.metrics.applied.WithLabelValues(p.key.topic).Add(float64(res.applied))
	p.w.metrics.duplicates.WithLabelValues(p.key.topic).Add(float64(res.duplicates))
	p.rejected(res.rejected)
	if len(res.outbox) == 0 {
		return true
	}
	if err := p.send(ctx, res.outbox, next); err != nil {
		p.log.Warn("produce the outbox", "error", err)
		return p.recover(ctx)
	}
	return true
}

// send hands the derived events of the batch that saved next to Kafka in
// order, without waiting.
func (p *partition) send(ctx context.Context, rows []outboxRow, next int64) error {
	recs, err := p.records(ctx, rows)
	if err != nil {
		return err
	}
	spans := p.w.tracing.startRelay(rows, recs)
	for i, r := range recs {
		var span trace.Span
		if spans != nil {
			span = spans[i]
		}
		wait, err := p.w.cfg.Producer.Send(r)
		if err != nil {
			if spans != nil {
				endRelay(spans[i:], err)
			}
			return err
		}
		p.inflight = append(p.inflight, relaying{batch: next, last: i == len(recs)-1, wait: wait, span: span})
	}
	return nil
}

// collect takes the acknowledged events from the front of the relay in
// flight; a batch whose last event is among them is marked sent with the
// next batch. With all set it waits for every one. A failed event ends the
// relay in flight: the outbox is produced again from the database
// (recover). It reports whether it got through before ctx ended.
func (p *partition) collect(ctx context.Context, all bool) bool {
	var deadline time.Time // zero: wait
	if !all {
		deadline = time.Unix(1, 0) // gone: only what has been answered
	}
	n := 0
	for _, r := range p.inflight {
		_, err := r.wait(ctx, deadline)
		if !all && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			break
		}
		if err != nil && ctx.Err() != nil {
			// Stopping: what is left in flight ends with the partition.
			p.w.metrics.derived.Add(float64(n))
			p.inflight = append(p.inflight[:0], p.inflight[n:]...)
			return false
		}
		endRelay([]trace.Span{r.span}, err)
		if err != nil {
			p.w.metrics.derived.Add(float64(n))
			p.log.Warn("produce the outbox", "error", err)
			for _, rest := range p.inflight[n+1:] {
				endRelay([]trace.Span{rest.span}, errRelayAbandoned)
			}
			p.inflight = p.inflight[:0]
			return p.recover(ctx)
		}
		if r.last {
			p.acked = append(p.acked, r.batch)
		}
		n++
	}
	p.w.metrics.derived.Add(float64(n))
	p.inflight = append(p.inflight[:0], p.inflight[n:]...)
	return true
}

// Errors that end the span of a derived event whose relay gave up before
// Kafka answered; the event stays in the outbox, to be produced again.
var (
	errRelayAbandoned = errors.New("an earlier derived event failed; produced again from the outbox")
	errRelayStopped   = errors.New("the partition stopped before Kafka answered; its next owner produces the outbox again")
)

// settle sees the relay in flight through: it waits for Kafka's every
// answer and marks the events sent. It reports whether it got through
// before ctx ended.
func (p *partition) settle(ctx context.Context) bool {
	if len(p.inflight) == 0 && len(p.acked) == 0 {
		return true
	}
	if !p.collect(ctx, true) {
		return false
	}
	if !p.retry(ctx, "mark the outbox sent", func() error { return p.w.store.markSent(ctx, nil, p.key.topic, p.key.id, p.acked) }) {
		return false
	}
	p.acked = p.acked[:0]
	return true
}

// recover produces the outbox again from the database after a failure:
// every derived event not marked sent, in order, waiting for Kafka, as at
// the partition's start. Events already delivered are delivered again with
// the same ids. It waits for the relay in flight first. It reports whether
// it got through before ctx ended.
func (p *partition) recover(ctx context.Context) bool {
	failed := false // an event of the batch so far
	for _, r := range p.inflight {
		_, err := r.wait(ctx, time.Time{})
		failed = failed || err != nil
		if r.last {
			if !failed {
				p.acked = append(p.acked, r.batch)
			}
			failed = false
		}
		endRelay([]trace.Span{r.span}, err)
	}
	p.inflight = p.inflight[:0]
	if !p.retry(ctx, "mark the outbox sent", func() error { return p.w.store.markSent(ctx, nil, p.key.topic, p.key.id, p.acked) }) {
		return false
	}
	p.acked = p.acked[:0]
	return p.retry(ctx, "produce the outbox", func() error { return p.relay(ctx) })
}

// decode decodes a record. A record no retry can decode is returned as
// poison; a record of a type the app does not apply as nil, nil, nil; an
// error is transient.
func (p *partition) decode(ctx context.Context, m *kafkax.Message) (*Event, *poison, error) {
	h, payload, err := wire.Parse(m.Value)
	if err != nil {
		return nil, &poison{m, ReasonUndecodable, err}, nil
	}
	t, err := p.w.cfg.Registry.ResolveID(ctx, h.SchemaID, h.Indexes)
	if errors.Is(err, regclient.ErrNotFound) {
		return nil, &poison{m, ReasonUnknownSchema, err}, nil
	} else if err != nil {
		return nil, nil, err
	}
	if !p.w.accepts(t.Name()) {
		return nil, nil, nil
	}
	ev := &Event{
		Topic:     m.Topic,
		Partition: m.Partition,
		Offset:    m.Offset,
		Key:       m.Key,
		Headers:   m.Headers,
		Type:      t,
	}
	if ev.EventID = m.Header(wire.HeaderEventID); ev.EventID == "" {
		ev.EventID = fallbackEventID(ev.Topic, ev.Partition, ev.Offset)
	}
	ev.Principal = m.Header(wire.HeaderPrincipal)
	ev.ReceivedAt = receivedAt(m.Header(wire.HeaderReceivedAt), m.Timestamp)
	var msg proto.Message
	if gt := p.w.inputs.GoTypes; gt != nil {
		if mt, err := gt.FindMessageByName(t.Name()); err == nil {
			msg = mt.New().Interface()
		}
	}
	if msg == nil {
		msg = dynamicpb.NewMessage(t.Descriptor)
	}
	if err := proto.Unmarshal(payload, msg); err != nil {
		return nil, &poison{m, ReasonUndecodable, fmt.Errorf("decode %s (schema id %d): %w", t.Name(), h.SchemaID, err)}, nil
	}
	ev.Message = msg
	return ev, nil, nil
}

// deadLetter produces poison records to the dead-letter topic, or logs them
// when the worker has no producer.
func (p *partition) deadLetter(ctx context.Context, bad []poison) error {
	now := time.Now().UTC().Format(time.RFC3339Nano)
	recs := make([]kafkax.Record, len(bad))
	for i, b := range bad {
		hs := append(make([]kafkax.Header, 0, len(b.m.Headers)+6), b.m.Headers...)
		hs = append(hs,
			kafkax.Header{Key: wire.HeaderDLQReason, Value: []byte(b.reason)},
			kafkax.Header{Key: wire.HeaderDLQError, Value: []byte(b.err.Error())},
			kafkax.Header{Key: wire.HeaderDLQTopic, Value: []byte(b.m.Topic)},
			kafkax.Header{Key: wire.HeaderDLQPartition, Value: []byte(strconv.Itoa(int(b.m.Partition)))},
			kafkax.Header{Key: wire.HeaderDLQOffset, Value: []byte(strconv.FormatInt(b.m.Offset, 10))},
			kafkax.Header{Key: wire.HeaderDLQTime, Value: []byte(now)},
		)
		recs[i] = kafkax.Record{Topic: p.w.cfg.DeadLetterTopic, Key: b.m.Key, Value: b.m.Value, Headers: hs}
	}
	if p.w.cfg.Producer == nil {
		for _, b := range bad {
			p.log.Error("poison record skipped (no producer for dead letters)", "offset", b.m.Offset, "reason", b.reason, "error", b.err)
		}
		return nil
	}
	if _, err := p.w.cfg.Producer.ProduceBatch(ctx, recs); err != nil {
		return fmt.Errorf("dead-letter %d records to %s: %w", len(recs), p.w.cfg.DeadLetterTopic, err)
	}
	for _, b := range bad {
		p.w.metrics.deadLettered.WithLabelValues(p.key.topic, b.reason).Inc()
		p.log.Error("poison record dead-lettered", "offset", b.m.Offset, "reason", b.reason, "error", b.err, "dead_letter_topic", p.w.cfg.DeadLetterTopic)
	}
	return nil
}

// relay produces the partition's unsent derived events, in order, each to
// the topic its registered type names, and marks them sent.
func (p *partition) relay(ctx context.Context) error {
	batches, err := p.w.store.unsent(ctx, p.key.topic, p.key.id)
	if err != nil || len(batches) == 0 {
		return err
	}
	var rows []outboxRow
	keys := make([]int64, len(batches))
	for i, b := range batches {
		rows = append(rows, b.rows...)
		keys[i] = b.next
	}
	recs, err := p.records(ctx, rows)
	if err != nil {
		return err
	}
	spans := p.w.tracing.startRelay(rows, recs)
	_, err = p.w.cfg.Producer.ProduceBatch(ctx, recs)
	endRelay(spans, err)
	if err != nil {
		return err
	}
	if err := p.w.store.markSent(ctx, nil, p.key.topic, p.key.id, keys); err != nil {
		return err
	}
	p.w.metrics.derived.Add(float64(len(rows)))
	return nil
}

// records frames derived events as records of their types' topics.
func (p *partition) records(ctx context.Context, rows []outboxRow) ([]kafkax.Record, error) {
	recs := make([]kafkax.Record, len(rows))
	for i, row := range rows {
		t, err := p.w.cfg.Registry.Resolve(ctx, row.Type)
		if err != nil {
			return nil, fmt.Errorf("derived event: %w", err)
		}
		if t.Event == nil {
			return nil, fmt.Errorf("derived event %s has no (cairn.options.v1.event) option", row.Type)
		}
		recs[i] = kafkax.Record{
			Topic:   t.Event.GetTopic(),
			Key:     row.Key,
			Value:   wire.Append(make([]byte, 0, 16+len(row.Payload)), wire.Header{SchemaID: t.SchemaID, Indexes: t.Indexes}, row.Payload),
			Headers: wire.AppendEventHeaders(make([]kafkax.Header, 0, 5), row.EventID, string(row.Type), t.SchemaID),
		}
	}
	return recs, nil
}
