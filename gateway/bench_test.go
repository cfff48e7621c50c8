package gateway_test

import (
	"errors"
	"io"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// report adds throughput and latency percentiles to a benchmark's result.
func report(b *testing.B, n int, elapsed time.Duration, latencies []time.Duration) {
	b.Helper()
	slices.Sort(latencies)
	at := func(q float64) float64 {
		if len(latencies) == 0 {
			return 0
		}
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkPublish publishes one event per call from many concurrent
// clients (GOMAXPROCS × 16 goroutines on one connection).
func BenchmarkPublish(b *testing.B) {
	s := start(b)
	events := make([]*gatewayv1.PublishRequest, 1024)
	for i := range events {
		events[i] = event(b, player(newUUID(), "Ada"))
	}
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		next      int
	)
	b.SetParallelism(16)
	b.ResetTimer()
	began := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		var mine []time.Duration
		for pb.Next() {
			mu.Lock()
			req := events[next%len(events)]
			next++
			mu.Unlock()
			req = &gatewayv1.PublishRequest{Event: &gatewayv1.Event{EventId: newUUID(), OccurredAt: req.Event.OccurredAt, Payload: req.Event.Payload}}
			start := time.Now()
			if _, err := s.client.Publish(b.Context(), req); err != nil {
				b.Error(err)
				return
			}
			mine = append(mine, time.Since(start))
		}
		mu.Lock()
		latencies = append(latencies, mine...)
		mu.Unlock()
	})
	report(b, b.N, time.Since(began), latencies)
}

// BenchmarkPublishStream publishes b.N events on one stream; latency is
// from Send to the event's result.
func BenchmarkPublishStream(b *testing.B) {
	s := start(b)
	payload := event(b, player(newUUID(), "Ada")).GetEvent()
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = newUUID()
	}
	sentAt := make(map[string]time.Time, b.N)
	var mu sync.Mutex
	latencies := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	began := time.Now()
	stream, err := s.client.PublishStream(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for _, id := range ids {
			mu.Lock()
			sentAt[id] = time.Now()
			mu.Unlock()
			if err := stream.Send(&gatewayv1.PublishStreamRequest{Event: &gatewayv1.Event{EventId: id, OccurredAt: payload.OccurredAt, Payload: payload.Payload}}); err != nil {
				return
			}
		}
		_ = stream.CloseSend()
	}()
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if r := resp.GetResult().GetRejected(); r != nil {
			b.Fatalf("rejected: %v", r)
		}
		mu.Lock()
		latencies = append(latencies, time.Since(sentAt[resp.GetResult().GetEventId()]))
		mu.Unlock()
	}
	if len(latencies) != b.N {
		b.Fatalf("%d results for %d events", len(latencies), b.N)
	}
	report(b, b.N, time.Since(began), latencies)
}

// BenchmarkPublishBatch publishes b.N events in PublishBatch calls of 100
// from GOMAXPROCS × 2 concurrent callers; a batch's latency counts once per
// event in it.
func BenchmarkPublishBatch(b *testing.B) {
	s := start(b)
	payload := event(b, player(newUUID(), "Ada")).GetEvent()
	const size = 100
	var (
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		left      = b.N
	)
	take := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := min(left, size)
		left -= n
		return n
	}
	b.ResetTimer()
	began := time.Now()
	var wg sync.WaitGroup
	for range 2 * runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for n := take(); n > 0; n = take() {
				req := &gatewayv1.PublishBatchRequest{Events: make([]*gatewayv1.Event, n)}
				for i := range req.Events {
					req.Events[i] = &gatewayv1.Event{EventId: newUUID(), OccurredAt: payload.OccurredAt, Payload: payload.Payload}
				}
				start := time.Now()
				resp, err := s.client.PublishBatch(b.Context(), req)
				if err != nil {
					b.Error(err)
					return
				}
				took := time.Since(start)
				mu.Lock()
				for _, r := range resp.GetResults() {
					if r.GetRejected() != nil {
						b.Errorf("rejected: %v", r.GetRejected())
					}
					latencies = append(latencies, took)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	report(b, b.N, time.Since(began), latencies)
}
