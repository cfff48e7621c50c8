package gateway

import (
	"errors"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
)

// metrics are the gateway's Prometheus metrics.
type metrics struct {
	requests    *prometheus.CounterVec // by method and status code
	events      *prometheus.CounterVec // by type, outcome and reason
	produce     prometheus.Histogram   // seconds from produce to Kafka's ack
	inflight    prometheus.Gauge       // bytes waiting for Kafka
	rateLimited *prometheus.CounterVec // by role

	typeDegraded  *prometheus.GaugeVec   // by type: 1 while its rules fail at run time
	degradedTypes prometheus.Gauge       // how many types are degraded
	ruleFailures  *prometheus.CounterVec // by type: events refused because a rule failed at run time

	dedupEvictions         *prometheus.CounterVec // by reason: full, share
	evictFull, evictShared prometheus.Counter

	// Counters of the common outcomes, looked up once: a label lookup
	// hashes its values and takes a lock on every event.
	okCalls sync.Map // method → prometheus.Counter of calls answered OK
	okTypes sync.Map // event type → *typeCounters
}

// typeCounters are an event type's counters of accepted and duplicate
// events.
type typeCounters struct{ accepted, duplicate prometheus.Counter }

// callDone counts a call by method and status code.
func (m *metrics) callDone(method string, code codes.Code) {
	if code != codes.OK {
		m.requests.WithLabelValues(method, code.String()).Inc()
		return
	}
	c, ok := m.okCalls.Load(method)
	if !ok {
		c, _ = m.okCalls.LoadOrStore(method, m.requests.WithLabelValues(method, codes.OK.String()))
	}
	c.(prometheus.Counter).Inc()
}

// eventDone counts an event of typeName that Kafka has, or had already
// (duplicate).
func (m *metrics) eventDone(typeName string, duplicate bool) {
	v, ok := m.okTypes.Load(typeName)
	if !ok {
		v, _ = m.okTypes.LoadOrStore(typeName, &typeCounters{
			accepted:  m.events.WithLabelValues(typeName, "accepted", codes.OK.String()),
			duplicate: m.events.WithLabelValues(typeName, "duplicate", codes.OK.String()),
		})
	}
	tc := v.(*typeCounters)
	if duplicate {
		tc.duplicate.Inc()
	} else {
		tc.accepted.Inc()
	}
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_gateway_requests_total",
			Help: "Calls of the EventGateway service, by method and gRPC status code.",
		}, []string{"method", "code"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_gateway_events_total",
			Help: "Events answered, by event type, outcome (accepted, duplicate, rejected) and reason (a gRPC code; OK when accepted).",
		}, []string{"type", "outcome", "reason"}),
		produce: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cairn_gateway_produce_duration_seconds",
			Help:    "Time from handing an event to the Kafka producer to its delivery report.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5 ms to 16 s
		}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_gateway_inflight_bytes",
			Help: "Bytes of events handed to Kafka and not yet acknowledged.",
		}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_gateway_rate_limited_total",
			Help: "Events refused because their principal exceeded its rate limit, by role.",
		}, []string{"role"}),
		typeDegraded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "cairn_gateway_type_degraded",
			Help: "1 while the event type's validation rules fail at run time (its events are refused with FailedPrecondition); 0 once it validates again.",
		}, []string{"type"}),
		degradedTypes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "cairn_gateway_degraded_types",
			Help: "Event types whose validation rules fail at run time; alert when above 0.",
		}),
		ruleFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_gateway_rule_failures_total",
			Help: "Events refused because a validation rule of their type failed at run time, by event type.",
		}, []string{"type"}),
		dedupEvictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_gateway_dedup_evictions_total",
			Help: "Results of accepted events forgotten before their de-duplication window ended, to make room for newer ones, by reason: full (the oldest result went) or share (the caller held half the cache, and its own oldest went: one caller is publishing new ids fast).",
		}, []string{"reason"}),
	}
	m.evictFull, m.evictShared = m.dedupEvictions.WithLabelValues("full"), m.dedupEvictions.WithLabelValues("share")
	// The series alerts are written against exist from the start.
	for _, method := range []string{"Publish", "PublishBatch", "PublishStream"} {
		m.requests.WithLabelValues(method, codes.OK.String())
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.events, m.produce, m.inflight, m.rateLimited, m.typeDegraded, m.degradedTypes, m.ruleFailures, m.dedupEvictions} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				return nil, fmt.Errorf("gateway: metrics: a gateway is already registered with this registerer: %w", err)
			}
			return nil, fmt.Errorf("gateway: metrics: %w", err)
		}
	}
	return m, nil
}

// dedupEvicted counts a result the de-duplication cache forgot early:
// its caller's own when shared.
func (m *metrics) dedupEvicted(shared bool) {
	if shared {
		m.evictShared.Inc()
	} else {
		m.evictFull.Inc()
	}
}
