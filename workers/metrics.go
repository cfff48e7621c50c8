package workers

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnhq/cairn/internal/kafkax"
)

// metrics are a worker's Prometheus collectors. Workers sharing a
// Registerer share them.
type metrics struct {
	lag          *prometheus.GaugeVec
	applied      *prometheus.CounterVec
	duplicates   *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	resets       *prometheus.CounterVec
	retries      *prometheus.CounterVec
	derived      prometheus.Counter
	batch        prometheus.Histogram
	skipped      *prometheus.CounterVec
	pruned       prometheus.Counter
	pauses       *prometheus.CounterVec
	queueFull    *prometheus.CounterVec
}

// newMetrics registers the worker's metrics with r and creates the series
// of each input topic, so they exist before the first record.
func newMetrics(r prometheus.Registerer, topics []string) (*metrics, error) {
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cairn_worker_consumer_lag",
			Help: "Records in the partition after the last one applied.",
		}, []string{"topic", "partition"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_events_applied_total",
			Help: "Events the app applied.",
		}, []string{"topic"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_duplicates_skipped_total",
			Help: "Records skipped because their event id was applied before.",
		}, []string{"topic"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_events_rejected_total",
			Help: "Events the app refused for good (for the hunt: unknown hunt, hunt full, ...); they change nothing.",
		}, []string{"reason"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_dead_lettered_total",
			Help: "Poison records sent to the dead-letter topic.",
		}, []string{"topic", "reason"}),
		resets: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_offset_resets_total",
			Help: "Offsets found out of range, by the policy followed.",
		}, []string{"topic", "partition", "policy"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_transient_failures_total",
			Help: "Batches retried after a transient failure (database, registry or Kafka unavailable).",
		}, []string{"topic"}),
		derived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_worker_derived_events_produced_total",
			Help: "Derived events produced from the outbox.",
		}),
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cairn_worker_batch_duration_seconds",
			Help:    "Time to apply and save one batch of a partition.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_events_skipped_total",
			Help: "Records of registered types the worker's app does not apply.",
		}, []string{"topic"}),
		pauses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_partition_pauses_total",
			Help: "Partitions paused because their queue stayed full and they took no batch for a second: their batches are not getting through (a database outage, say).",
		}, []string{"topic"}),
		queueFull: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_worker_queue_full_seconds_total",
			Help: "Seconds the worker waited for room in a partition's full queue: fetching is ahead of applying, and the partition's batches (the database, usually) set the pace.",
		}, []string{"topic"}),
		pruned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "cairn_worker_applied_ids_pruned_total",
			Help: "Applied event ids forgotten because they are older than the retention; a repeat of one is applied again.",
		}),
	}
	var err error
	register(r, &m.lag, &err)
	register(r, &m.applied, &err)
	register(r, &m.duplicates, &err)
	register(r, &m.rejected, &err)
	register(r, &m.deadLettered, &err)
	register(r, &m.resets, &err)
	register(r, &m.retries, &err)
	register(r, &m.derived, &err)
	register(r, &m.batch, &err)
	register(r, &m.skipped, &err)
	register(r, &m.pruned, &err)
	register(r, &m.pauses, &err)
	register(r, &m.queueFull, &err)
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if kafkax.IsPattern(t) {
			continue // its topics' series appear with their first record
		}
		m.applied.WithLabelValues(t)
		m.duplicates.WithLabelValues(t)
		m.retries.WithLabelValues(t)
		m.skipped.WithLabelValues(t)
		m.pauses.WithLabelValues(t)
		m.queueFull.WithLabelValues(t)
		for _, reason := range []string{ReasonUndecodable, ReasonUnknownSchema} {
			m.deadLettered.WithLabelValues(t, reason)
		}
	}
	return m, nil
}

// register registers *c, or replaces it by the collector registered before
// under the same name.
func register[C prometheus.Collector](r prometheus.Registerer, c *C, errp *error) {
	if err := r.Register(*c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				*c = existing
				return
			}
		}
		*errp = errors.Join(*errp, err)
	}
}
