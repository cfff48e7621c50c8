package gateway

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// TestDegradedLogsOnceASecondPerType drives the degraded types' clock: a
// type's failures within a second of its last line are counted, not
// logged, and the next line (or the one saying it validates again) carries
// the count; another type has its own second.
func TestDegradedLogsOnceASecondPerType(t *testing.T) {
	t.Parallel()
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	d := newDegradedTypes(slog.New(slog.NewJSONHandler(&buf, nil)), m)
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d.now = func() time.Time { return at }
	a := &ruleFailure{typeName: "t.A", rule: "a.rule", cause: "division by zero"}
	b := &ruleFailure{typeName: "t.B", rule: "b.rule", cause: "no such overload"}

	step := func(after time.Duration, f *ruleFailure) {
		at = at.Add(after)
		d.fail(f)
	}
	step(0, a)                    // logged
	step(300*time.Millisecond, a) // suppressed
	step(0, b)                    // logged: its own type
	step(600*time.Millisecond, a) // suppressed
	step(200*time.Millisecond, a) // 1.1 s after a's line: logged, with 2 suppressed
	step(100*time.Millisecond, a) // suppressed
	at = at.Add(time.Second)
	d.ok("t.A") // says so, with 1 suppressed

	type line struct {
		Msg        string
		Type       string
		Rule       string
		Suppressed int
		Failures   int
	}
	var got []line
	for l := range strings.Lines(buf.String()) {
		var rec line
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatal(err)
		}
		got = append(got, rec)
	}
	const fails, again = "event type's validation rule fails at run time", "event type validates again"
	want := []line{
		{Msg: fails, Type: "t.A", Rule: "a.rule"},
		{Msg: fails, Type: "t.B", Rule: "b.rule"},
		{Msg: fails, Type: "t.A", Rule: "a.rule", Suppressed: 2},
		{Msg: again, Type: "t.A", Rule: "a.rule", Suppressed: 1, Failures: 5},
	}
	if len(got) != len(want) {
		t.Fatalf("logged %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if v := value(t, m.typeDegraded.WithLabelValues("t.A")); v != 0 {
		t.Errorf("t.A degraded = %g, want 0", v)
	}
	if v := value(t, m.typeDegraded.WithLabelValues("t.B")); v != 1 {
		t.Errorf("t.B degraded = %g, want 1", v)
	}
	if v := value(t, m.degradedTypes); v != 1 {
		t.Errorf("degraded types = %g, want 1", v)
	}
	if v := value(t, m.ruleFailures.WithLabelValues("t.A")); v != 5 {
		t.Errorf("t.A rule failures = %g, want 5", v)
	}
	if list := d.list(); len(list) != 1 || list[0].Type != "t.B" || list[0].Failures != 1 {
		t.Errorf("degraded = %+v, want t.B alone with 1 failure", list)
	}
}

// value reads a gauge's or a counter's value.
func value(t *testing.T, c prometheus.Metric) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}
