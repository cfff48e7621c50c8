package gateway_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// TestBrokerRestartUnderLoad stops the broker while clients publish, starts
// it again from its data directory, and counts: every event the gateway
// acknowledged is in Kafka exactly once, and every other call ended with an
// error within its deadline.
func TestBrokerRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a broker")
	}
	t.Parallel()
	s := startWith(t, options{dataDir: t.TempDir()})
	const (
		clients  = 6
		deadline = 3 * time.Second
	)
	var (
		mu       sync.Mutex
		acked    = make(map[string]bool)
		failed   = make(map[codes.Code]int)
		slowest  time.Duration
		restarts atomic.Int32 // acks seen after the restart
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	var restarted atomic.Bool
	for range clients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				req := event(t, player(newUUID(), "Ada"))
				ctx, cancel := context.WithTimeout(t.Context(), deadline)
				began := time.Now()
				_, err := s.client.Publish(ctx, req)
				took := time.Since(began)
				cancel()
				mu.Lock()
				slowest = max(slowest, took)
				if err == nil {
					acked[req.GetEvent().GetEventId()] = true
					if restarted.Load() {
						restarts.Add(1)
					}
				} else {
					failed[status.Code(err)]++
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond) // a client backs off before retrying
				}
			}
		})
	}

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		end := time.Now().Add(60 * time.Second)
		for !cond() {
			if time.Now().After(end) {
				close(stop)
				wg.Wait()
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("acks before the stop", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 200 })
	s.broker.Stop()
	time.Sleep(2 * deadline) // calls in progress and new ones fail
	if err := s.broker.Restart(); err != nil {
		close(stop)
		wg.Wait()
		t.Fatal(err)
	}
	restarted.Store(true)
	waitFor("acks after the restart", func() bool { return restarts.Load() >= 200 })
	close(stop)
	wg.Wait()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.gateway.Ready(ctx); err != nil {
		t.Errorf("Ready after the restart: %v", err)
	}

	t.Logf("acked %d, failed %v, slowest call %s", len(acked), failed, slowest)
	total := 0
	for code, n := range failed {
		total += n
		if code != codes.Unavailable && code != codes.DeadlineExceeded {
			t.Errorf("%d calls failed with %v, want UNAVAILABLE", n, code)
		}
	}
	if total == 0 {
		t.Error("no call failed while the broker was down")
	}
	if failed[codes.Unavailable] == 0 {
		t.Error("no call failed with UNAVAILABLE")
	}
	if slowest > deadline+2*time.Second {
		t.Errorf("slowest call took %s with a %s deadline", slowest, deadline)
	}

	got := records(t, s.broker.Addr(), "cairn.player.events", 3)
	for id := range acked {
		if got[id] != 1 {
			t.Errorf("acked event %s is in Kafka %d times, want once", id, got[id])
		}
	}
	for id, n := range got {
		if n != 1 {
			t.Errorf("event %s is in Kafka %d times", id, n)
		}
	}
}

// TestRetryAfterTimeoutProducesOnce: a Publish that timed out while Kafka
// was down may still reach Kafka once Kafka is back. A retry with the same
// event_id gets that late result instead of producing the event again.
func TestRetryAfterTimeoutProducesOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts a broker")
	}
	t.Parallel()
	s := startWith(t, options{dataDir: t.TempDir()})
	req := event(t, player(newUUID(), "Ada"))
	if _, err := s.client.Publish(t.Context(), event(t, player(newUUID(), "Bo"))); err != nil {
		t.Fatal(err) // the producer knows the cluster
	}
	s.broker.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	_, err := s.client.Publish(ctx, req)
	cancel()
	if code := status.Code(err); code != codes.Unavailable && code != codes.DeadlineExceeded {
		t.Fatalf("Publish with Kafka down = %v, want Unavailable", err)
	}
	if err := s.broker.Restart(); err != nil {
		t.Fatal(err)
	}
	var resp *gatewayv1.PublishResponse
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		resp, err = s.client.Publish(ctx, req)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("retry never succeeded: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	got := records(t, s.broker.Addr(), "cairn.player.events", 3)
	if n := got[req.GetEvent().GetEventId()]; n != 1 {
		t.Errorf("the event is in Kafka %d times, want once (answer %v)", n, resp)
	}
}
