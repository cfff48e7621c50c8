// Package workers is Cairn's exactly-once consumer runtime. A Worker is one
// member of a consumer group: it reads the input topics, one goroutine per
// assigned partition, decodes each record through the registry and hands
// batches of events to an App (package huntapp is the hunt; package
// eventlog logs events). The runtime never looks inside an event.
//
// # Exactly once
//
// Each batch of a partition's records is applied in one database
// transaction that skips event ids applied before (within
// Config.AppliedRetention: older ids are forgotten as the worker runs),
// lets the app apply the others to its tables, writes the events the app
// derived to an outbox and saves the partition's next offset. On
// assignment a partition is read from the offset saved in the database,
// which is the truth; the offset is also committed to Kafka, for lag tools
// only. After each batch the partition produces its outbox
// (registry-framed, idempotent producer) and deletes the rows Kafka
// acknowledged: derived events are produced at least once, always under
// the same event id (a name-based UUID of the cause's event id and the
// derived type), so a crash between producing and deleting produces a
// record again with the same cairn-event-id, never a different event.
//
// # Types
//
// Any registered type can be read, including types registered while the
// worker runs: a record is decoded with the descriptor the registry holds
// for its schema id, into a dynamic message, or into the generated Go type
// when the app gave one (Inputs.GoTypes). Records of registered types the
// app does not apply are skipped.
//
// # Failures
//
//   - A poison record goes to the dead-letter topic, with headers saying why
//     (cairn-dlq-reason, cairn-dlq-error), where from (cairn-dlq-topic,
//     cairn-dlq-partition, cairn-dlq-offset) and when (cairn-dlq-time), and
//     the partition moves on. Poison is what no retry can fix: a value that
//     is not framed, a schema id the registry does not know, a payload that
//     does not decode.
//   - An event the app refuses (a Rejection: in the hunt, unknown hunt, hunt
//     full, …) is not poison: it is a decision, the same on every replay. It
//     is logged, counted in cairn_worker_events_rejected_total, and its event
//     id is recorded.
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
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
)

// Worker is one member of a consumer group.
//
// Run may be called once. Healthy and the metrics are safe for concurrent
// use, before, during and after Run.
type Worker struct {
	cfg     Config
	inputs  Inputs
	c       *kafkax.Consumer
	store   *store
	metrics *metrics
	tracing *tracing // nil when tracing is off

	mu     sync.Mutex
	failed map[string]string // partition -> why it stopped
	kill   context.CancelFunc
}

// New checks cfg, creates the runtime's and the app's tables in cfg.DB
// when they are missing, registers the metrics and creates the consumer;
// it joins the group when Run starts.
func New(ctx context.Context, cfg Config) (*Worker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	// Every series carries the worker's group, so that two apps in one
	// process (cairn dev's hunt worker and event log) count apart.
	m, err := newMetrics(prometheus.WrapRegistererWith(prometheus.Labels{"group": cfg.Group}, cfg.Metrics), cfg.Topics)
	if err != nil {
		return nil, fmt.Errorf("worker: metrics: %w", err)
	}
	w := &Worker{cfg: cfg, inputs: cfg.App.Inputs(), metrics: m, tracing: newTracing(cfg.TracerProvider, cfg.Group), failed: make(map[string]string)}
	reset := string(cfg.OffsetPolicy)
	if cfg.DB != nil {
		if w.store, err = openStore(ctx, cfg.DB, cfg.Group, cfg.App); err != nil {
			return nil, fmt.Errorf("worker: %w", err)
		}
		w.store.tracing = w.tracing
		// The store decides where to start; librdkafka must never reset
		// an offset on its own.
		reset = "error"
	} else if cfg.OffsetPolicy == OffsetFail {
		reset = "error"
	}
	copts := kafkax.ConsumerOptions{Brokers: cfg.Brokers, Group: cfg.Group, Logger: cfg.Logger, AutoOffsetReset: reset, TopicRefresh: cfg.TopicRefresh}
	if slices.ContainsFunc(cfg.Topics, kafkax.IsPattern) {
		// A pattern never reads the dead letters back.
		copts.ExcludeTopics = []string{cfg.DeadLetterTopic}
	}
	w.c, err = kafkax.NewConsumer(copts)
	if err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	return w, nil
}

// accepts reports whether the app applies events of the type named.
func (w *Worker) accepts(name protoreflect.FullName) bool {
	return w.inputs.All || slices.Contains(w.inputs.Types, name)
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
	w     *Worker
	log   *slog.Logger
	parts map[tpKey]*partition
	full  *time.Timer // await's wait for room in a queue
	// stopping is closed when the worker is told to stop, or killed.
	stopping <-chan struct{}
	// closing is set once the partitions are stopped and their offsets
	// committed, before the consumer closes: the revocation Close runs
	// has nothing left to commit.
	closing bool
}

// Run consumes until ctx ends, then lets each partition finish the records
// it holds (all within DrainTimeout), commits, and leaves the group. It
// returns an error only if the consumer fails for good.
func (w *Worker) Run(ctx context.Context) (err error) {
	// hard ends only when the worker is killed or Run returns: batches in
	// progress when ctx ends are finished under it.
	hard, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	w.mu.Lock()
	w.kill = cancel
	w.mu.Unlock()
	stopping, stop := context.WithCancel(ctx)
	defer stop()
	context.AfterFunc(hard, stop)
	r := &run{w: w, log: w.cfg.Logger, parts: make(map[tpKey]*partition), full: time.NewTimer(stuckAfter), stopping: stopping.Done()}
	r.full.Stop()
	if w.store != nil && w.cfg.AppliedRetention > 0 {
		pctx, stopPruning := context.WithCancel(hard)
		pruned := make(chan struct{})
		go func() {
			defer close(pruned)
			w.prune(pctx)
		}()
		defer func() { stopPruning(); <-pruned }()
	}
	defer func() {
		r.stop(slices.Collect(maps.Keys(r.parts)), hard.Err() == nil)
		if hard.Err() == nil {
			if cerr := w.c.Commit(); cerr != nil {
				r.log.Warn("commit offsets to Kafka", "error", cerr)
			}
		}
		r.closing = true
		switch cerr := w.c.Close(); {
		case errors.Is(cerr, kafkax.ErrCloseAbandoned):
			// Kafka is gone: the offsets are in the database, and the
			// group drops this member by itself.
			r.log.Warn("kafka consumer", "error", cerr)
		case cerr != nil && err == nil:
			err = fmt.Errorf("worker: close consumer: %w", cerr)
		}
	}()
	rb := kafkax.Rebalance{
		Assigned: func(tps []kafkax.TopicPartition) (start, paused []kafkax.TopicPartition) {
			return r.assigned(ctx, hard, tps)
		},
		Revoked: r.revoked,
	}
	if err := w.c.Subscribe(w.cfg.Topics, rb); err != nil {
		return fmt.Errorf("worker: subscribe to %s: %w", strings.Join(w.cfg.Topics, ","), err)
	}
	r.log.Info("worker consuming", "group", w.cfg.Group, "topics", w.cfg.Topics, "store", w.store != nil)
	paused := false
	for ctx.Err() == nil && hard.Err() == nil {
		// A paused partition is resumed as soon as its queue has room:
		// Poll waits less while one is.
		wait := 100 * time.Millisecond
		if paused {
			wait = 5 * time.Millisecond
		}
		m, err := w.c.Poll(wait)
		switch {
		case m != nil:
			r.dispatch(m)
		case errors.Is(err, kafkax.ErrFatal):
			return fmt.Errorf("worker: %w", err)
		case errors.Is(err, kafkax.ErrOffsetOutOfRange):
			r.log.Warn("offset out of range", "error", err)
			r.checkRanges()
			continue
		case err != nil:
			r.log.Warn("kafka consumer", "error", err)
		}
		paused = r.resumeReady()
	}
	return nil
}

// pruneEvery bounds the wait between two prunings of the applied ids;
// pruneGap is the pause between two chunks of one.
const (
	pruneEvery = 10 * time.Minute
	pruneGap   = 10 * time.Millisecond
)

// prune forgets, until ctx ends, the applied event ids older than the
// retention: at once, then every tenth of the retention, at most every
// pruneEvery. Every worker of a group prunes the group's one table; a
// failure is logged and tried again at the next turn.
func (w *Worker) prune(ctx context.Context) {
	retention := w.cfg.AppliedRetention
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		before := time.Now().Add(-retention)
		var total int64
		for ctx.Err() == nil {
			n, err := w.store.pruneApplied(ctx, before)
			total += n
			w.metrics.pruned.Add(float64(n))
			if err != nil && ctx.Err() == nil {
				w.cfg.Logger.Warn("prune applied event ids", "error", err)
			}
			if err != nil || n < pruneChunk {
				break
			}
			sleep(ctx, pruneGap) // let the partitions' batches in
		}
		if total > 0 {
			w.cfg.Logger.Info("pruned applied event ids", "ids", total, "older_than", retention)
		}
		t.Reset(max(min(retention/10, pruneEvery), pruneGap))
	}
}

// assigned starts the partitions newly assigned, and says where each
// starts. It runs inside Poll, on the polling goroutine.
func (r *run) assigned(stopping, hard context.Context, tps []kafkax.TopicPartition) (start, paused []kafkax.TopicPartition) {
	for _, tp := range tps {
		p := r.start(stopping, hard, tp)
		tp.Offset = p.startAt
		start = append(start, tp)
		if p.failed {
			paused = append(paused, tp)
		}
	}
	r.log.Info("partitions assigned", "partitions", names(tps))
	return start, paused
}

// revoked stops the partitions taken away, together, and commits what
// they applied unless the assignment was lost. It runs inside Poll, on
// the polling goroutine.
func (r *run) revoked(tps []kafkax.TopicPartition, lost bool) {
	keys := make([]tpKey, len(tps))
	for i, tp := range tps {
		keys[i] = tpKey{tp.Topic, tp.Partition}
	}
	r.stop(keys, !lost)
	// Not while closing: the offsets were committed just before, and a
	// commit that waits for its answer inside the consumer's close was
	// seen to wait forever, holding the worker's shutdown.
	if !lost && !r.closing {
		if err := r.w.c.Commit(); err != nil {
			r.log.Warn("commit offsets to Kafka", "error", err)
		}
	}
	// A failed partition that went to another worker is that worker's to
	// report now.
	r.w.mu.Lock()
	for _, k := range keys {
		delete(r.w.failed, k.String())
	}
	r.w.mu.Unlock()
	r.log.Info("partitions revoked", "partitions", names(tps))
}

func names(tps []kafkax.TopicPartition) []string {
	out := make([]string, len(tps))
	for i, tp := range tps {
		out[i] = tp.String()
	}
	return out
}

// start decides where a newly assigned partition starts and starts its
// goroutine, under hard. While the saved offset cannot be read it waits,
// unless stopping ends.
func (r *run) start(stopping, hard context.Context, tp kafkax.TopicPartition) *partition {
	key := tpKey{tp.Topic, tp.Partition}
	ctx, cancel := context.WithCancel(hard)
	p := &partition{
		w:      r.w,
		key:    key,
		log:    r.log.With("topic", key.topic, "partition", key.id),
		q:      make(chan *kafkax.Message, r.w.cfg.QueueSize),
		done:   make(chan struct{}),
		cancel: cancel,
		next:   -1,
	}
	p.rewound.Store(-1)
	r.parts[key] = p
	if r.w.store == nil {
		p.startAt = kafkax.OffsetStored
		go p.run(ctx)
		return p
	}
	// The saved offset is where the partition starts. While the database
	// cannot say, the partition waits; a worker told to stop gives up on it.
	loadCtx, stopLoading := context.WithCancel(ctx)
	defer stopLoading()
	stopOnStopping := context.AfterFunc(stopping, stopLoading)
	defer stopOnStopping()
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
		p.startAt = kafkax.OffsetBeginning
	} else if low, high, err := r.w.c.Watermarks(key.topic, key.id, 10*time.Second); err != nil {
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
	// The reset is counted once its effect is in place, so that whoever
	// sees the count also sees the worker's health that goes with it.
	defer r.w.metrics.resets.WithLabelValues(p.key.topic, fmt.Sprint(p.key.id), string(policy)).Inc()
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
	var reset []*partition
	for _, p := range r.parts {
		if p.failed || p.next < 0 {
			continue
		}
		low, high, err := r.w.c.Watermarks(p.key.topic, p.key.id, 10*time.Second)
		if err != nil {
			p.log.Warn("query the log's offsets", "error", err)
			continue
		}
		if p.next >= low && p.next <= high {
			continue
		}
		to := r.outOfRange(p, p.next, low, high)
		if p.failed {
			continue
		}
		p.next = to
		p.paused = false
		p.rewound.Store(to)
		reset = append(reset, p)
	}
	if len(reset) > 0 {
		r.refetch(reset)
	}
}

// refetch assigns the consumer its partitions anew, each from the next
// offset to queue: librdkafka stops fetching a partition whose offset is
// out of range, leaving the reset to the worker, and refuses to seek it
// from then on. The partitions paused or failed are paused again. Should
// the assignment fail, the partitions reset are reported failed: nothing
// else would fetch them again before the next rebalance.
func (r *run) refetch(reset []*partition) {
	tps := make([]kafkax.TopicPartition, 0, len(r.parts))
	var paused []kafkax.TopicPartition
	for _, p := range r.parts {
		tp := kafkax.TopicPartition{Topic: p.key.topic, Partition: p.key.id, Offset: p.startAt}
		if p.next >= 0 {
			tp.Offset = p.next
		}
		tps = append(tps, tp)
		if p.paused || p.failed {
			paused = append(paused, tp)
		}
	}
	if err := r.w.c.Assign(tps); err != nil {
		r.log.Error("assign the partitions anew after an offset out of range; the worker reports unhealthy", "error", err)
		for _, p := range reset {
			r.w.setFailed(p.key.String(), fmt.Sprintf("offset out of range, and assigning it anew failed: %v", err))
		}
		return
	}
	if len(paused) > 0 {
		if err := r.w.c.Pause(paused); err != nil {
			r.log.Error("pause partitions", "error", err)
		}
	}
}

// dispatch hands a record to its partition's goroutine. When the
// partition's queue is full, as when a worker catches up on a backlog, it
// waits for room (await) for as long as the partition keeps taking batches:
// it frees a batch's worth at each, however long another partition holds
// the database. A partition that took none for stuckAfter is stuck (its
// batches keep failing, say): await pauses it, so that the other
// partitions go on, and the record is dropped; resumeReady seeks back to
// it. Pausing costs more than waiting: librdkafka drops what it fetched
// ahead of a paused partition, and resuming waits for the broker
// connection's fetch in flight, up to fetch.wait.max.ms; paused at every
// full queue, a worker catching up applied some 2,600 events/s whatever
// its speed.
func (r *run) dispatch(m *kafkax.Message) {
	p, ok := r.parts[tpKey{m.Topic, m.Partition}]
	if !ok || p.failed || (p.next >= 0 && m.Offset < p.next) {
		return
	}
	if p.paused { // read again on resume, should librdkafka deliver one
		return
	}
	select {
	case p.q <- m:
	default:
		if !r.await(p, m) {
			return
		}
	}
	p.next = m.Offset + 1
}

// stuckAfter is how long a partition whose queue is full may take no batch
// before await pauses it. Partitions sharing one SQLite writer each wait
// for the others' batches: three catching up on a backlog of millions
// often went more than 100 ms between two batches of one partition.
const stuckAfter = time.Second

// await queues m for p once there is room, and reports whether it did. It
// pauses p instead when p took no batch for stuckAfter, and gives up when
// the worker is told to stop: the record is read again by whoever applies
// the partition next.
func (r *run) await(p *partition, m *kafkax.Message) bool {
	began := time.Now()
	defer func() { r.w.metrics.queueFull.WithLabelValues(p.key.topic).Add(time.Since(began).Seconds()) }()
	for {
		taken := p.taken.Load()
		r.full.Reset(stuckAfter)
		select {
		case p.q <- m:
			r.full.Stop()
			return true
		case <-r.stopping:
			r.full.Stop()
			return false
		case <-r.full.C:
			if p.taken.Load() == taken {
				r.pause(p)
				return false
			}
		}
	}
}

// pause stops fetching p's records.
func (r *run) pause(p *partition) {
	if p.paused {
		return
	}
	p.paused = true
	r.w.metrics.pauses.WithLabelValues(p.key.topic).Inc()
	p.log.Warn("partition paused: its queue stayed full and it took no batch for " + stuckAfter.String())
	if err := r.w.c.Pause([]kafkax.TopicPartition{{Topic: p.key.topic, Partition: p.key.id}}); err != nil {
		p.log.Error("pause partition", "error", err)
	}
}

// resumeReady resumes the paused partitions whose queue is half empty
// again, from the record dropped, and reports whether any is still
// paused.
func (r *run) resumeReady() (paused bool) {
	for _, p := range r.parts {
		if !p.paused {
			continue
		}
		if len(p.q) > cap(p.q)/2 {
			paused = true
			continue
		}
		tp := kafkax.TopicPartition{Topic: p.key.topic, Partition: p.key.id, Offset: p.next}
		if err := r.w.c.Seek(tp); err != nil {
			p.log.Warn("seek before resuming", "error", err)
			paused = true
			continue
		}
		if err := r.w.c.Resume([]kafkax.TopicPartition{tp}); err != nil {
			p.log.Warn("resume partition", "error", err)
			paused = true
			continue
		}
		p.paused = false
		p.log.Info("partition resumed", "offset", p.next)
	}
	return paused
}

// stop stops the partitions named, together: each drains what it holds
// when drain is set, all within one DrainTimeout; what is left then is
// abandoned. Without drain they are abandoned at once.
func (r *run) stop(keys []tpKey, drain bool) {
	var ps []*partition
	for _, k := range keys {
		if p, ok := r.parts[k]; ok {
			ps = append(ps, p)
			delete(r.parts, k)
		}
	}
	for _, p := range ps {
		if !drain {
			p.cancel()
		}
		close(p.q)
	}
	expired := make(chan struct{})
	t := time.AfterFunc(r.w.cfg.DrainTimeout, func() { close(expired) })
	defer t.Stop()
	abandoned := false
	for _, p := range ps {
		select {
		case <-p.done:
		case <-expired:
			if !abandoned {
				abandoned = true
				r.log.Warn("partitions did not drain in time; abandoning what they hold", "timeout", r.w.cfg.DrainTimeout)
				for _, p := range ps {
					p.cancel()
				}
			}
			<-p.done
		}
		p.cancel()
	}
}
