// Package workertest is what tests of apps on the worker runtime share: a
// dev broker with a producer, a worker running in the background, reading
// a topic back, waiting on a condition, and fresh event ids.
package workertest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/workers"
)

// Kafka starts a dev broker with three partitions for each topic and a
// producer to it, both closed when the test ends.
func Kafka(t testing.TB, topics ...string) (*devbroker.Broker, *kafkax.Producer) {
	t.Helper()
	broker, err := devbroker.Start("127.0.0.1:0", 3, topics...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	return broker, Producer(t, broker.Addr())
}

// Producer returns a producer to brokers, closed when the test ends.
func Producer(t testing.TB, brokers string) *kafkax.Producer {
	t.Helper()
	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = producer.Close(ctx)
	})
	return producer
}

// Running is a worker running in the background until Stop or the end of
// the test.
type Running struct {
	W *workers.Worker

	gather prometheus.Gatherer
	cancel context.CancelFunc
	done   chan struct{} // closed when Run returned
	err    error         // what Run returned
	once   sync.Once
}

// Start runs w, and beside it each of also until Run returns. metrics is
// what Counter reads.
func Start(t testing.TB, w *workers.Worker, metrics prometheus.Gatherer, also ...func(context.Context)) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{W: w, gather: metrics, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var beside sync.WaitGroup
		for _, f := range also {
			beside.Go(func() { f(ctx) })
		}
		r.err = w.Run(ctx)
		cancel()
		beside.Wait()
	}()
	t.Cleanup(func() { r.Stop(t) })
	return r
}

// Cancel cancels the worker's context without waiting for it to stop.
func (r *Running) Cancel() { r.cancel() }

// Done is closed when the worker's Run has returned.
func (r *Running) Done() <-chan struct{} { return r.done }

// Stop stops the worker gracefully and fails the test if Run failed; a
// second Stop does nothing.
func (r *Running) Stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		r.once.Do(func() {
			if r.err != nil {
				t.Errorf("Run: %v", r.err)
			}
		})
	case <-time.After(60 * time.Second):
		t.Error("worker did not stop")
	}
}

// Counter sums the values of a metric family (counters and gauges).
func (r *Running) Counter(t testing.TB, name string) float64 {
	t.Helper()
	mfs, err := r.gather.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// ReadTopic reads every record of a three-partition topic from the start,
// waiting until there are at least want of them.
func ReadTopic(t testing.TB, brokers, topic string, want int) []*kafkax.Message {
	t.Helper()
	c, err := kafkax.NewConsumer(kafkax.ConsumerOptions{Brokers: brokers, Group: "reader", Tail: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tps []kafkax.TopicPartition
	for p := range int32(3) {
		tps = append(tps, kafkax.TopicPartition{Topic: topic, Partition: p, Offset: kafkax.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		t.Fatal(err)
	}
	var out []*kafkax.Message
	deadline := time.Now().Add(60 * time.Second)
	idle := 0
	for time.Now().Before(deadline) {
		m, _ := c.Poll(500 * time.Millisecond)
		if m == nil {
			if len(out) >= want {
				if idle++; idle >= 2 {
					return out
				}
			}
			continue
		}
		idle = 0
		out = append(out, m)
	}
	t.Fatalf("read %d records from %s, want at least %d", len(out), topic, want)
	return nil
}

// Eventually polls f until it returns nil, or fails the test with f's last
// error after a deadline generous enough for a loaded machine.
func Eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var ids atomic.Int64

// NewID returns a fresh event id in the UUID version 4 layout, unique in
// the test binary.
func NewID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", ids.Add(1))
}
