package gateway

import (
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// DegradedType is an event type whose validation rules fail when the
// gateway evaluates them: its events are refused until it validates again.
type DegradedType struct {
	// Type is the event type's full name.
	Type string
	// Rule is the failing rule's id; empty when protovalidate did not
	// name it.
	Rule string
	// Error is what evaluating the rule failed with.
	Error string
	// Since is when the type's rules began to fail.
	Since time.Time
	// Failures counts the events refused since then.
	Failures int64
}

// ruleFailure is an event refused because a rule of its type cannot be
// evaluated: the type's registered schema is broken, not the event.
type ruleFailure struct {
	typeName string
	rule     string
	cause    string
}

func (f *ruleFailure) Error() string {
	return fmt.Sprintf("%s's validation %s fails at run time (%s)", f.typeName, f.ruleName(), f.cause)
}

func (f *ruleFailure) ruleName() string {
	if f.rule == "" {
		return "rule"
	}
	return fmt.Sprintf("rule %q", f.rule)
}

// rejection answers the caller. FailedPrecondition, not Internal: the
// gateway works, and the caller's event may be fine; what is broken is the
// state of the type's registered schema, which its owners must fix by
// registering a version whose rules run. Retrying the same event before
// that cannot succeed, which is FailedPrecondition's contract ("do not
// retry until the system state has been explicitly fixed"), and the same
// answer the gateway gives when a type names a topic that does not exist.
// Internal would tell the caller the gateway is at fault and hide which
// type and rule to report.
func (f *ruleFailure) rejection() *rejection {
	return &rejection{code: codes.FailedPrecondition, msg: f.Error() +
		": the type's registered schema is broken and its events cannot be checked; the event was not published; " +
		"its schema owners must register a version whose rules run"}
}

// asRuleFailure returns err as a ruleFailure of type name when it is
// protovalidate's runtime error (a rule that compiled but cannot be
// evaluated on this event) or its compilation error (a rule that never
// compiled, registered before the registry checked), and nil otherwise.
func asRuleFailure(name protoreflect.FullName, err error) *ruleFailure {
	var (
		rerr *protovalidate.RuntimeError
		cerr *protovalidate.CompilationError
		text string
	)
	switch {
	case errors.As(err, &rerr):
		text = errText(rerr.Unwrap(), rerr)
	case errors.As(err, &cerr):
		text = errText(cerr.Unwrap(), cerr)
	default:
		return nil
	}
	f := &ruleFailure{typeName: string(name), cause: text}
	// protovalidate names the rule as "error evaluating <id>: <cause>" or
	// "failed to compile program <id>: <cause>".
	for _, prefix := range []string{"error evaluating ", "failed to compile program "} {
		if rest, ok := strings.CutPrefix(text, prefix); ok {
			if rule, cause, ok := strings.Cut(rest, ": "); ok {
				f.rule, f.cause = rule, cause
			}
			break
		}
	}
	return f
}

func errText(cause, outer error) string {
	if cause == nil {
		return outer.Error()
	}
	return cause.Error()
}

// degradedTypes tracks the event types whose rules fail at run time: it
// keeps the metrics, the readiness detail and a log line a second per
// type. It is safe for concurrent use.
type degradedTypes struct {
	log     *slog.Logger
	metrics *metrics
	now     func() time.Time

	count atomic.Int32 // len(types): checked without the lock on every valid event
	mu    sync.Mutex
	types map[string]*degradedType
}

// degradedType is one degraded type's state.
type degradedType struct {
	DegradedType
	logged     time.Time // when the last line was logged
	suppressed int64     // failures not logged since
}

// logEvery is the least time between two log lines about one type.
const logEvery = time.Second

func newDegradedTypes(log *slog.Logger, m *metrics) *degradedTypes {
	return &degradedTypes{log: log, metrics: m, now: time.Now, types: make(map[string]*degradedType)}
}

// fail records that f refused an event.
func (d *degradedTypes) fail(f *ruleFailure) {
	now := d.now()
	d.metrics.ruleFailures.WithLabelValues(f.typeName).Inc()
	d.mu.Lock()
	t, ok := d.types[f.typeName]
	if !ok {
		t = &degradedType{DegradedType: DegradedType{Type: f.typeName, Since: now}}
		d.types[f.typeName] = t
		d.count.Store(int32(len(d.types)))
		d.metrics.typeDegraded.WithLabelValues(f.typeName).Set(1)
		d.metrics.degradedTypes.Set(float64(len(d.types)))
	}
	t.Rule, t.Error = f.rule, f.cause
	t.Failures++
	if !t.logged.IsZero() && now.Sub(t.logged) < logEvery {
		t.suppressed++
		d.mu.Unlock()
		return
	}
	suppressed := t.suppressed
	t.logged, t.suppressed = now, 0
	d.mu.Unlock()
	d.log.Error("event type's validation rule fails at run time",
		"type", f.typeName, "rule", f.rule, "error", f.cause, "suppressed", suppressed,
		"hint", "its events are refused until it validates again; register a version whose rules run")
}

// ok records that an event of typeName validated: the type is no longer
// degraded. It costs one atomic load while no type is degraded.
func (d *degradedTypes) ok(typeName string) {
	if d.count.Load() == 0 {
		return
	}
	d.mu.Lock()
	t, ok := d.types[typeName]
	if !ok {
		d.mu.Unlock()
		return
	}
	delete(d.types, typeName)
	d.count.Store(int32(len(d.types)))
	d.metrics.typeDegraded.WithLabelValues(typeName).Set(0)
	d.metrics.degradedTypes.Set(float64(len(d.types)))
	d.mu.Unlock()
	d.log.Info("event type validates again",
		"type", typeName, "rule", t.Rule, "failures", t.Failures, "suppressed", t.suppressed,
		"degraded_for", d.now().Sub(t.Since).Round(time.Millisecond))
}

// list returns the degraded types by name.
func (d *degradedTypes) list() []DegradedType {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]DegradedType, 0, len(d.types))
	for _, name := range slices.Sorted(maps.Keys(d.types)) {
		out = append(out, d.types[name].DegradedType)
	}
	return out
}

// Degraded returns the event types whose validation rules failed at run
// time on their last event, by name. Their events are refused with
// FailedPrecondition until one validates again; other types publish as
// usual.
func (s *Server) Degraded() []DegradedType { return s.degraded.list() }

// ReadyDetail describes the degraded event types for a readiness report,
// one line each, or returns "" when there is none. The gateway stays ready
// while types are degraded: it publishes every other type.
func (s *Server) ReadyDetail() string {
	var b strings.Builder
	for _, t := range s.Degraded() {
		rule := "a rule"
		if t.Rule != "" {
			rule = fmt.Sprintf("rule %q", t.Rule)
		}
		fmt.Fprintf(&b, "degraded: event type %s: validation %s fails at run time (%s) since %s; %d events refused\n",
			t.Type, rule, t.Error, t.Since.UTC().Format(time.RFC3339), t.Failures)
	}
	return b.String()
}
