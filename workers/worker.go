// Package workers is Cairn's consumer runtime and hunt engine. A Worker is
// one member of a consumer group: it reads the input topics, one goroutine
// per assigned partition, and applies the game rules (package hunt) with
// exactly-once effects; HuntService serves the resulting view over gRPC.
//
// # Exactly once
//
// Each batch of a partition's records is applied in one database
// transaction that skips event ids applied before, saves the hunts and
// players it changed, writes the derived events to an outbox and saves the
// partition's next offset. On assignment a partition is read from the
// offset saved in the database, which is the truth; the offset is also
// committed to Kafka, for lag tools only. After each batch the partition
// produces its outbox (registry-framed, idempotent producer) and marks the
// rows sent: derived events are produced at least once, always under the
// same event id (a name-based UUID of the cause's event id and the derived
// type), so a crash between producing and marking produces a record again
// with the same cairn-event-id, never a different event.
//
// # Failures
//
//   - A poison record goes to the dead-letter topic, with headers saying why
//     (cairn-dlq-reason, cairn-dlq-error), where from (cairn-dlq-topic,
//     cairn-dlq-partition, cairn-dlq-offset) and when (cairn-dlq-time), and
//     the partition moves on. Poison is what no retry can fix: a value that
//     is not framed, a schema id the registry does not know, a payload that
//     does not decode, a type the engine has no Go type for.
//   - An event the game rules refuse (hunt.RejectedError: unknown hunt, hunt
//     full, …) is not poison: it is a decision the rules took, the same on
//     every replay. It is logged, counted in
//     cairn_worker_events_rejected_total, and its event id is recorded.
//   - A transient failure (database, registry or Kafka unavailable) retries
//     the batch with exponential backoff; meanwhile the partition's queue
//     fills and the partition is paused, while other partitions go on.
//   - An offset out of range follows Config.OffsetPolicy, is logged and
//     counted in cairn_worker_offset_resets_total.
package workers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

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
	Type    *regclient.Type
	Message protoreflect.Message
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

// Handler handles one event. It must be safe to call again with the same
// event: a record handled just before a crash is handled again after it.
type Handler func(ctx context.Context, ev *Event) error

// Worker is one member of a consumer group.
//
// Run may be called once. HuntService, Healthy and the metrics are safe for
// concurrent use, before, during and after Run.
type Worker struct {
	cfg     Config
	c       *kafka.Consumer
	store   *store
	metrics *metrics
	hub     *hub

	mu     sync.Mutex
	failed map[string]string // partition -> why it stopped
	kill   context.CancelFunc
}

// New checks cfg, creates the workers' tables in cfg.DB when they are
// missing, registers the metrics and creates the consumer; it joins the
// group when Run starts.
func New(cfg Config) (*Worker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, fmt.Errorf("worker: metrics: %w", err)
	}
	w := &Worker{cfg: cfg, metrics: m, failed: make(map[string]string)}
	w.hub = newHub(cfg.WatchBuffer, m.watchDropped)
	reset := string(cfg.OffsetPolicy)
	if cfg.DB != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if w.store, err = openStore(ctx, cfg.DB, cfg.Group); err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
		// The store decides where to start; librdkafka must never reset
		// an offset on its own.
		reset = "error"
	} else if cfg.OffsetPolicy == OffsetFail {
		reset = "error"
	}
	w.c, err = kafkax.NewConsumer(kafkax.ConsumerOptions{Brokers: cfg.Brokers, Group: cfg.Group, Logger: cfg.Logger, AutoOffsetReset: reset})
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return w, nil
}

// Healthy returns nil, or an error naming the partitions stopped by the
// fail offset policy.
func (w *Worker) Healthy() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.failed) == 0 {
		return nil
	}
	var msgs []string
	for tp, why := range w.failed {
		msgs = append(msgs, tp+": "+why)
	}
	sort.Strings(msgs)
	return fmt.Errorf("worker: partitions stopped: %s", strings.Join(msgs, "; "))
}

func (w *Worker) setFailed(tp, why string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.failed[tp] = why
}

// tpKey names a partition.
type tpKey struct {
	topic string
	id    int32
}

func (k tpKey) String() string { return fmt.Sprintf("%s/%d", k.topic, k.id) }

// run is the state of one Run: owned by the polling goroutine.
type run struct {
	w    *Worker
	log  *slog.Logger
	hard context.Context // ends only when the worker is killed or Run returns
	// stopping is closed when Run's ctx ends: work that has not started
	// yet is not started.
	stopping <-chan struct{}
	parts    map[tpKey]*partition
}

// Run consumes until ctx ends, then lets each partition finish the records
// it holds (bounded by DrainTimeout), commits, and leaves the group. It
// returns an error only if the consumer fails for good.
func (w *Worker) Run(ctx context.Context) (err error) {
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	w.mu.Lock()
	w.kill = cancel
	w.mu.Unlock()
	r := &run{w: w, log: w.cfg.Logger, hard: hard, stopping: ctx.Done(), parts: make(map[tpKey]*partition)}
	defer func() {
		w.hub.close() // WatchPlayer streams end; clients call again elsewhere
		r.stopAll(hard.Err() == nil)
		if hard.Err() == nil {
			if _, cerr := w.c.Commit(); cerr != nil && !isNoOffset(cerr) {
				r.log.Warn("commit offsets to Kafka", "error", cerr)
			}
		}
		if cerr := w.c.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("worker: close consumer: %w", cerr)
		}
	}()
	if w.store != nil {
		// WatchPlayer's feed: stopped before the streams end, above.
		feedCtx, stopFeed := context.WithCancel(hard)
		feedDone := make(chan struct{})
		go func() {
			defer close(feedDone)
			w.follow(feedCtx)
		}()
		defer func() {
			stopFeed()
			<-feedDone
		}()
	}
	if err := w.c.SubscribeTopics(w.cfg.Topics, r.rebalance); err != nil {
		return fmt.Errorf("worker: subscribe to %s: %w", strings.Join(w.cfg.Topics, ","), err)
	}
	r.log.Info("worker consuming", "group", w.cfg.Group, "topics", w.cfg.Topics, "store", w.store != nil)
	for ctx.Err() == nil && hard.Err() == nil {
		switch e := w.c.Poll(100).(type) {
		case *kafka.Message:
			r.dispatch(e)
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("worker: consumer: %w", e)
			}
			if e.Code() == kafka.ErrAutoOffsetReset {
				r.log.Warn("offset out of range", "error", e.Error())
				r.checkRanges()
				continue
			}
			r.log.Warn("kafka consumer", "error", e.Error(), "code", e.Code().String())
		}
		r.resumeReady()
	}
	return nil
}

func isNoOffset(err error) bool {
	var ke kafka.Error
	return errors.As(err, &ke) && ke.Code() == kafka.ErrNoOffset
}

// rebalance takes and gives back partitions. It runs inside Poll, on the
// polling goroutine.
func (r *run) rebalance(c *kafka.Consumer, ev kafka.Event) error {
	cooperative := c.GetRebalanceProtocol() == "COOPERATIVE"
	switch e := ev.(type) {
	case kafka.AssignedPartitions:
		assign := make([]kafka.TopicPartition, 0, len(e.Partitions))
		var failed []kafka.TopicPartition
		for _, tp := range e.Partitions {
			p := r.start(tp)
			tp.Offset = kafka.Offset(p.startAt)
			assign = append(assign, tp)
			if p.failed {
				failed = append(failed, tp)
			}
		}
		var err error
		if cooperative {
			err = c.IncrementalAssign(assign)
		} else {
			err = c.Assign(assign)
		}
		if err != nil {
			return fmt.Errorf("assign partitions: %w", err)
		}
		if len(failed) > 0 {
			if err := c.Pause(failed); err != nil {
				r.log.Error("pause failed partitions", "error", err)
			}
		}
		r.log.Info("partitions assigned", "partitions", names(e.Partitions))
	case kafka.RevokedPartitions:
		for _, tp := range e.Partitions {
			if p, ok := r.parts[tpKey{*tp.Topic, tp.Partition}]; ok {
				p.stop(!c.AssignmentLost(), r.w.cfg.DrainTimeout)
				delete(r.parts, p.key)
			}
		}
		if !c.AssignmentLost() {
			if _, err := c.Commit(); err != nil && !isNoOffset(err) {
				r.log.Warn("commit offsets to Kafka", "error", err)
			}
		}
		var err error
		if cooperative {
			err = c.IncrementalUnassign(e.Partitions)
		} else {
			err = c.Unassign()
		}
		if err != nil {
			return fmt.Errorf("unassign partitions: %w", err)
		}
		// A failed partition that went to another worker is that worker's
		// to report now.
		r.w.mu.Lock()
		for _, tp := range e.Partitions {
			delete(r.w.failed, tpKey{*tp.Topic, tp.Partition}.String())
		}
		r.w.mu.Unlock()
		r.log.Info("partitions revoked", "partitions", names(e.Partitions))
	}
	return nil
}

func names(tps []kafka.TopicPartition) []string {
	out := make([]string, len(tps))
	for i, tp := range tps {
		out[i] = tpKey{*tp.Topic, tp.Partition}.String()
	}
	return out
}

// start decides where a newly assigned partition starts and starts its
// goroutine.
func (r *run) start(tp kafka.TopicPartition) *partition {
	key := tpKey{*tp.Topic, tp.Partition}
	ctx, cancel := context.WithCancel(r.hard)
	p := &partition{
		w:      r.w,
		key:    key,
		log:    r.log.With("topic", key.topic, "partition", key.id),
		q:      make(chan *kafka.Message, r.w.cfg.QueueSize),
		done:   make(chan struct{}),
		cancel: cancel,
		next:   -1,
	}
	r.parts[key] = p
	if r.w.store == nil {
		p.startAt = int64(kafka.OffsetStored)
		go p.run(ctx)
		return p
	}
	// The saved offset is where the partition starts. While the database
	// cannot say, the partition waits; a worker told to stop gives up on it.
	loadCtx, stopLoading := context.WithCancel(ctx)
	defer stopLoading()
	go func() {
		select {
		case <-r.stopping:
			stopLoading()
		case <-loadCtx.Done():
		}
	}()
	var saved int64 = noOffset
	for attempt := 0; ; attempt++ {
		var err error
		if saved, err = r.w.store.offset(loadCtx, key.topic, key.id); err == nil {
			break
		}
		if loadCtx.Err() != nil {
			p.log.Warn("stopping before the saved offset could be read; the partition does not start", "error", err)
			close(p.done)
			return p
		}
		p.log.Warn("load saved offset; retrying", "error", err)
		sleep(loadCtx, backoff(attempt, r.w.cfg.RetryBackoff, r.w.cfg.MaxRetryBackoff))
	}
	p.saved, p.startAt = saved, saved
	if saved == noOffset {
		p.startAt = int64(kafka.OffsetBeginning)
	} else if low, high, err := r.w.c.QueryWatermarkOffsets(key.topic, key.id, 10_000); err != nil {
		p.log.Warn("query the log's offsets; starting from the saved offset", "offset", saved, "error", err)
	} else if saved < low || saved > high {
		p.startAt = r.outOfRange(p, saved, low, high)
	}
	p.skipBelow = p.startAt
	if p.startAt >= 0 {
		p.next = p.startAt
	}
	if !p.failed {
		go p.run(ctx)
	} else {
		close(p.done)
	}
	return p
}

// outOfRange follows the offset policy for a partition whose offset is
// outside low..high, and returns the offset to read from.
func (r *run) outOfRange(p *partition, offset, low, high int64) int64 {
	policy := r.w.cfg.OffsetPolicy
	r.w.metrics.resets.WithLabelValues(p.key.topic, fmt.Sprint(p.key.id), string(policy)).Inc()
	log := p.log.With("offset", offset, "log_start", low, "log_end", high, "policy", string(policy))
	switch policy {
	case OffsetLatest:
		log.Warn("offset out of range: skipping to the end of the log; the records in between are not applied")
		return high
	case OffsetFail:
		log.Error("offset out of range: partition stopped; the worker reports unhealthy")
		p.failed = true
		r.w.setFailed(p.key.String(), fmt.Sprintf("offset %d out of range %d..%d", offset, low, high))
		return offset
	default:
		log.Warn("offset out of range: reading again from the start of the log; applied events are skipped")
		return low
	}
}

// checkRanges finds the partitions whose next offset left the log, after
// librdkafka reported an offset out of range, and follows the policy.
func (r *run) checkRanges() {
	for _, p := range r.parts {
		if p.failed || p.next < 0 {
			continue
		}
		low, high, err := r.w.c.QueryWatermarkOffsets(p.key.topic, p.key.id, 10_000)
		if err != nil {
			p.log.Warn("query the log's offsets", "error", err)
			continue
		}
		if p.next >= low && p.next <= high {
			continue
		}
		to := r.outOfRange(p, p.next, low, high)
		tp := kafka.TopicPartition{Topic: &p.key.topic, Partition: p.key.id, Offset: kafka.Offset(to)}
		if p.failed {
			if err := r.w.c.Pause([]kafka.TopicPartition{tp}); err != nil {
				p.log.Error("pause partition", "error", err)
			}
			continue
		}
		p.next = to
		p.paused = false
		if err := r.w.c.Seek(tp, 0); err != nil {
			p.log.Error("seek", "offset", to, "error", err)
		}
	}
}

// dispatch hands a record to its partition's goroutine, or pauses the
// partition when its queue is full; the record is then read again on
// resume.
func (r *run) dispatch(m *kafka.Message) {
	tp := m.TopicPartition
	p, ok := r.parts[tpKey{*tp.Topic, tp.Partition}]
	off := int64(tp.Offset)
	if !ok || p.failed || p.paused || (p.next >= 0 && off < p.next) {
		return
	}
	if len(p.q) == cap(p.q) {
		p.paused, p.resumeAt = true, off
		if err := r.w.c.Pause([]kafka.TopicPartition{{Topic: tp.Topic, Partition: tp.Partition}}); err != nil {
			p.log.Error("pause partition", "error", err)
		}
		return
	}
	p.q <- m
	p.next = off + 1
}

// resumeReady resumes the paused partitions whose queue has room again,
// from the record that did not fit.
func (r *run) resumeReady() {
	for _, p := range r.parts {
		if !p.paused || len(p.q) > cap(p.q)/2 {
			continue
		}
		tp := kafka.TopicPartition{Topic: &p.key.topic, Partition: p.key.id, Offset: kafka.Offset(p.resumeAt)}
		if err := r.w.c.Seek(tp, 0); err != nil {
			p.log.Warn("seek before resuming", "error", err)
			continue
		}
		if err := r.w.c.Resume([]kafka.TopicPartition{tp}); err != nil {
			p.log.Warn("resume partition", "error", err)
			continue
		}
		p.paused, p.next = false, p.resumeAt
	}
}

// stopAll stops every partition: draining what each holds when drain is
// set, abandoning it otherwise.
func (r *run) stopAll(drain bool) {
	for key, p := range r.parts {
		p.stop(drain, r.w.cfg.DrainTimeout)
		delete(r.parts, key)
	}
}

// crash stops Run at once, as a crash would: batches in flight are rolled
// back, nothing is drained or committed. Run then returns.
func (w *Worker) crash() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.kill != nil {
		w.kill()
	}
}

// HuntService returns the cairn.hunt.v1.HuntService server reading this
// worker's store, to register on a *grpc.Server. It is safe for concurrent
// use.
func (w *Worker) HuntService() huntv1.HuntServiceServer {
	return newHuntService(w.store, w.hub, w.cfg.Logger)
}
