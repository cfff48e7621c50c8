package bench

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestWriteTable(t *testing.T) {
	t.Parallel()
	gw := &Result{Path: "gateway", Sent: 1000, Accepted: 998, Errors: map[string]int64{"Unavailable": 2}, Elapsed: time.Second, CPU: 79840 * time.Microsecond}
	direct := &Result{Path: "direct", Sent: 1000, Accepted: 1000, Errors: map[string]int64{}, Elapsed: 500 * time.Millisecond}
	for i := range 998 {
		gw.Latency.Record(time.Duration(i+1) * 10 * time.Microsecond)
	}
	direct.Latency.Record(time.Millisecond)
	rep := &Report{Config: Config{Mode: Publish, Concurrency: 64, Connections: 4, GatewayAddr: "gw:1"}, EventBytes: 191, Results: []*Result{gw, direct}}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `cairn bench publish: 64 callers, one event per call over 4 connections to gw:1; events of 191 bytes

     path  sent  accepted  errors  events/s     p50     p90     p99     max  bench CPU/event
  gateway  1000       998       2       998  5.01ms  9.04ms  9.90ms  9.98ms           80.0µs
   direct  1000      1000       0     2,000  1.00ms  1.00ms  1.00ms  1.00ms                -

gateway errors: Unavailable 2
ratio gateway/direct: 0.50×
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestWriteTableInterrupted(t *testing.T) {
	t.Parallel()
	gw := &Result{Path: "gateway", Sent: 70, Accepted: 6, Interrupted: 64, Errors: map[string]int64{}, Elapsed: time.Second}
	gw.Latency.Record(time.Millisecond)
	rep := &Report{Config: Config{Mode: Publish, Concurrency: 64, Connections: 4, GatewayAddr: "gw:1", Direct: true}, EventBytes: 191,
		Results: []*Result{gw}, Interrupted: true}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := "\ninterrupted: the rows cover the run until then; events in flight, counted neither accepted nor errors: gateway 64; the direct run did not start\n"
	if got := b.String(); !strings.HasSuffix(got, want) || strings.Contains(got, "gateway errors:") || strings.Contains(got, "ratio") {
		t.Errorf("table:\n%s\nwant it to end with:\n%s", got, want)
	}
}

func TestTallyInterrupted(t *testing.T) {
	t.Parallel()
	stopped := false
	var live counters
	tl := newTally(&live, func() bool { return stopped })
	tl.send(3)
	tl.fail("Unavailable", 1)
	stopped = true
	tl.fail("Canceled", 2)
	res := &Result{Errors: make(map[string]int64)}
	tl.addTo(res)
	if res.Sent != 3 || res.Interrupted != 2 || len(res.Errors) != 1 || res.Errors["Unavailable"] != 1 || live.failed.Load() != 1 {
		t.Errorf("sent %d, interrupted %d, errors %v, live failed %d; want 3, 2, Unavailable 1, 1", res.Sent, res.Interrupted, res.Errors, live.failed.Load())
	}
}

func TestPlanHandsOutEachEventOnce(t *testing.T) {
	t.Parallel()
	p := newPlan(Config{Events: 1003})
	seen := make([]int, 1003)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				first, n := p.take(context.Background(), 10)
				if n == 0 {
					return
				}
				mu.Lock()
				for i := range n {
					seen[first+int64(i)]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i, c := range seen {
		if c != 1 {
			t.Fatalf("event %d handed out %d times", i, c)
		}
	}
}

func TestPlanStopsWithContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	p := newPlan(Config{Events: 10, Rate: 0.001}) // the second event is due in 1000 s
	if _, n := p.take(ctx, 1); n != 1 {
		t.Fatalf("first take got %d events, want 1", n)
	}
	cancel()
	if _, n := p.take(ctx, 1); n != 0 {
		t.Errorf("take after cancel got %d events, want 0", n)
	}
}

func TestNewUUID(t *testing.T) {
	t.Parallel()
	a, b := newUUID(), newUUID()
	if a == b || len(a) != 36 || a[14] != '4' || !strings.ContainsRune("89ab", rune(a[19])) || strings.Count(a, "-") != 4 {
		t.Errorf("newUUID() = %q, %q", a, b)
	}
}
