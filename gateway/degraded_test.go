package gateway_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/admin"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// ratioProto is an event whose message rule compiles (the registry
// accepts it) but divides by a field that may be zero: evaluating it on
// such an event is a CEL runtime error, not a violation. %s is the rule's
// expression.
const ratioProto = `syntax = "proto3";
package cairn.test.v1;
import "buf/validate/validate.proto";
import "cairn/options/v1/options.proto";
message Ratio {
  option (cairn.options.v1.event) = {topic: "cairn.player.events" key_field: "id"};
  option (buf.validate.message).cel = {id: "ratio.positive", message: "total / count must be positive", expression: %q};
  string id = 1;
  int64 total = 2;
  int64 count = 3;
}
`

const ratioType = "cairn.test.v1.Ratio"

// registerRatio registers a version of ratioProto with the rule expr.
func registerRatio(t *testing.T, s *stack, expr string) {
	t.Helper()
	sv, err := s.registry.Version(t.Context(), "cairn.hunt.v1.PlayerRegistered", -1, false)
	if err != nil {
		t.Fatal(err)
	}
	var refs []regclient.Reference
	for _, r := range sv.Schema.References {
		if r.Name == "cairn/options/v1/options.proto" || r.Name == "buf/validate/validate.proto" {
			refs = append(refs, r)
		}
	}
	if len(refs) != 2 {
		t.Fatalf("PlayerRegistered's references %v lack the options or protovalidate", sv.Schema.References)
	}
	if _, err := s.registry.Register(t.Context(), ratioType, regclient.SchemaInput{Text: fmt.Sprintf(ratioProto, expr), References: refs}); err != nil {
		t.Fatalf("register %s: %v", ratioType, err)
	}
}

// ratio is a PublishRequest of a Ratio.
func ratio(t *testing.T, total, count int64) *gatewayv1.PublishRequest {
	t.Helper()
	req := event(t, player(newUUID(), "Ada"))
	var b []byte
	b = protowire.AppendString(protowire.AppendTag(b, 1, protowire.BytesType), newUUID())
	b = protowire.AppendVarint(protowire.AppendTag(b, 2, protowire.VarintType), uint64(total))
	b = protowire.AppendVarint(protowire.AppendTag(b, 3, protowire.VarintType), uint64(count))
	req.Event.Payload = &anypb.Any{TypeUrl: "type.googleapis.com/" + ratioType, Value: b}
	return req
}

// logBuffer collects a logger's JSON lines; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines returns the logged records whose msg is msg.
func (b *logBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(b.buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}

// TestHostileRuleFailingAtRunTimeDegradesType registers a type whose rule
// compiles but fails when evaluated: its events are refused with
// FailedPrecondition naming the type and the rule, the type is marked
// degraded in the metrics and in /readyz (which stays ready: other types
// publish), one log line a second names it, and the mark clears once the
// type validates again: with an event the rule can evaluate, or after a
// fixed version is registered.
func TestHostileRuleFailingAtRunTimeDegradesType(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	logs := &logBuffer{}
	s := startWith(t, options{configure: func(c *gateway.Config) {
		c.Metrics = reg
		c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	}})
	adm := admin.New(admin.Config{Registry: reg, Ready: s.gateway.Ready, Detail: s.gateway.ReadyDetail})
	get := func(path string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		adm.Handler().ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
		body, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(body)
	}
	metricIs := func(series string, want float64) {
		t.Helper()
		_, body := get("/metrics")
		line := fmt.Sprintf("%s %g\n", series, want)
		if !strings.Contains(body, line) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(line))
		}
	}
	degradedSeries := fmt.Sprintf("cairn_gateway_type_degraded{type=%q}", ratioType)
	failuresSeries := fmt.Sprintf("cairn_gateway_rule_failures_total{type=%q}", ratioType)

	// From the first second: nothing is degraded, and the metric says so.
	metricIs("cairn_gateway_degraded_types", 0)
	if code, body := get("/readyz"); code != http.StatusOK || strings.Contains(body, "degraded") {
		t.Fatalf("/readyz before any failure = %d %q, want 200 without a degraded type", code, body)
	}

	registerRatio(t, s, "this.total / this.count > 0")
	// The rule works on events it can evaluate.
	if _, err := s.client.Publish(t.Context(), ratio(t, 6, 3)); err != nil {
		t.Fatalf("Publish of a Ratio the rule can evaluate: %v", err)
	}
	if _, err := s.client.Publish(t.Context(), ratio(t, -6, 3)); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("Publish of a Ratio that violates the rule = %v, want InvalidArgument", err)
	}

	const failures = 5
	began := time.Now()
	for range failures {
		_, err := s.client.Publish(t.Context(), ratio(t, 6, 0))
		st := status.Convert(err)
		if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), ratioType) ||
			!strings.Contains(st.Message(), `"ratio.positive"`) || !strings.Contains(st.Message(), "division by zero") {
			t.Fatalf("Publish of a Ratio whose rule fails at run time = %v, want FailedPrecondition naming the type, the rule and the CEL error", err)
		}
	}
	// A batch answers the event the same way.
	batch, err := s.client.PublishBatch(t.Context(), &gatewayv1.PublishBatchRequest{Events: []*gatewayv1.Event{ratio(t, 6, 0).GetEvent()}})
	if err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	if r := batch.GetResults()[0].GetRejected(); codes.Code(r.GetCode()) != codes.FailedPrecondition || !strings.Contains(r.GetMessage(), `"ratio.positive"`) {
		t.Fatalf("batch result = %v, want FailedPrecondition naming the rule", batch.GetResults()[0])
	}
	elapsed := time.Since(began)

	metricIs(degradedSeries, 1)
	metricIs(failuresSeries, failures+1)
	metricIs("cairn_gateway_degraded_types", 1)
	code, body := get("/readyz")
	t.Logf("/readyz: %s", body)
	if code != http.StatusOK || !strings.Contains(body, ratioType) || !strings.Contains(body, `"ratio.positive"`) || !strings.Contains(body, "division by zero") {
		t.Fatalf("/readyz while %s is degraded = %d %q, want 200 (other types publish) naming the type, the rule and the error", ratioType, code, body)
	}
	if _, err := s.client.Publish(t.Context(), event(t, player(newUUID(), "Ada"))); err != nil {
		t.Fatalf("Publish of another type while %s is degraded: %v", ratioType, err)
	}

	// The log names the type and the rule, at most once a second.
	failed := logs.lines(t, "event type's validation rule fails at run time")
	if len(failed) == 0 {
		t.Fatal("no log line names the failing rule")
	}
	if max := int(elapsed/time.Second) + 1; len(failed) > max {
		t.Errorf("%d log lines for %d failures in %s, want at most one a second", len(failed), failures+1, elapsed)
	}
	if failed[0]["type"] != ratioType || failed[0]["rule"] != "ratio.positive" {
		t.Errorf("log line %v, want type %s and rule ratio.positive", failed[0], ratioType)
	}

	// An event the rule can evaluate clears the mark.
	if _, err := s.client.Publish(t.Context(), ratio(t, 6, 2)); err != nil {
		t.Fatalf("Publish of a Ratio the rule can evaluate: %v", err)
	}
	metricIs(degradedSeries, 0)
	metricIs("cairn_gateway_degraded_types", 0)
	if code, body := get("/readyz"); code != http.StatusOK || strings.Contains(body, ratioType) {
		t.Fatalf("/readyz once %s validates again = %d %q, want 200 without it", ratioType, code, body)
	}
	// Every failure was either logged or counted as suppressed by a later
	// line: the one that says the type validates again.
	counted := 0
	for _, rec := range append(logs.lines(t, "event type's validation rule fails at run time"), logs.lines(t, "event type validates again")...) {
		if rec["msg"] != "event type validates again" {
			counted++
		}
		n, _ := rec["suppressed"].(float64)
		counted += int(n)
	}
	if counted != failures+1 {
		t.Errorf("log lines account for %d failures, want %d", counted, failures+1)
	}

	// Degraded again; a fixed version clears it once the gateway sees it.
	if _, err := s.client.Publish(t.Context(), ratio(t, 6, 0)); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("Publish = %v, want FailedPrecondition", err)
	}
	metricIs(degradedSeries, 1)
	registerRatio(t, s, "this.count == 0 || this.total / this.count > 0")
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := s.client.Publish(t.Context(), ratio(t, 6, 0))
		if err == nil {
			break
		}
		if status.Code(err) != codes.FailedPrecondition || time.Now().After(deadline) {
			t.Fatalf("Publish after a fixed version = %v, want it accepted once the gateway resolves the new version", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	metricIs(degradedSeries, 0)
	if code, body := get("/readyz"); code != http.StatusOK || strings.Contains(body, ratioType) {
		t.Fatalf("/readyz after the fixed version = %d %q, want 200 without %s", code, body, ratioType)
	}
}
