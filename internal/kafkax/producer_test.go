package kafkax_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/metrics"
	"slices"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/kafkax"
)

// TestProducerReportsEachRecordsPosition: the delivery reports carry no
// copy of the record, only where Kafka put it; each record gets its own
// position, and records with one key share a partition.
func TestProducerReportsEachRecordsPosition(t *testing.T) {
	t.Parallel()
	broker := startBroker(t, 3, "shop.orders")
	producer := startProducer(t, broker.Addr(), 10*time.Second)

	const records, keys = 300, 7
	rs := make([]kafkax.Record, records)
	for i := range rs {
		rs[i] = kafkax.Record{Topic: "shop.orders", Key: fmt.Appendf(nil, "k%d", i%keys), Value: fmt.Appendf(nil, "order %d", i)}
	}
	pos, err := producer.ProduceBatch(t.Context(), rs)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[int32][]int64{}
	partitionOf := map[string]int32{}
	for i, p := range pos {
		if p.Topic != "shop.orders" {
			t.Errorf("record %d reported on topic %q", i, p.Topic)
		}
		offsets[p.Partition] = append(offsets[p.Partition], p.Offset)
		key := string(rs[i].Key)
		if first, ok := partitionOf[key]; ok && first != p.Partition {
			t.Errorf("key %s went to partitions %d and %d", key, first, p.Partition)
		}
		partitionOf[key] = p.Partition
	}
	for partition, got := range offsets {
		slices.Sort(got)
		for i, o := range got {
			if o != int64(i) {
				t.Errorf("partition %d: offsets %v, want 0 to %d once each", partition, got, len(got)-1)
				break
			}
		}
	}
}

// TestNewProducerAllocatesLittle: the producer's Go-side channels are
// sized for what passes through them (the client's errors), not
// confluent-kafka-go's default of a million entries each, which allocated
// 24 MB per producer. Not parallel: it counts the heap bytes the process
// allocates while the producer starts.
func TestNewProducerAllocatesLittle(t *testing.T) {
	broker := startBroker(t, 1, "shop.orders")
	allocated := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(allocated)
	before := allocated[0].Value.Uint64()
	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: broker.Addr(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	metrics.Read(allocated)
	after := allocated[0].Value.Uint64()
	defer producer.Close(t.Context())
	if n := after - before; n > 4<<20 {
		t.Errorf("NewProducer allocated %d bytes of Go heap, want under 4 MiB", n)
	}
}

func TestLimitMallocArenas(t *testing.T) {
	// glibc, which the bundled librdkafka builds against by default,
	// takes the setting; a count below one is refused.
	if kafkax.LimitMallocArenas(0) {
		t.Error("zero arenas were taken")
	}
	if !kafkax.LimitMallocArenas(8) {
		t.Skip("the C allocator has no arena setting (not glibc)")
	}
}

// TestWaitWithPastDeadlineOnlyChecks: a Wait whose deadline has passed
// says at once whether Kafka has answered, without blocking.
func TestWaitWithPastDeadlineOnlyChecks(t *testing.T) {
	t.Parallel()
	broker := startBroker(t, 1, "shop.orders")
	// The second record is never answered: close without waiting for it.
	p := startProducer(t, broker.Addr(), 100*time.Millisecond)
	gone := time.Unix(1, 0)
	wait, err := p.Send(kafkax.Record{Topic: "shop.orders", Value: []byte("first")})
	if err != nil {
		t.Fatal(err)
	}
	want, err := wait(t.Context(), time.Now().Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := wait(t.Context(), gone); err != nil || got != want {
		t.Fatalf("past deadline, answered: %+v, %v; want %+v", got, err, want)
	}
	broker.Stop() // no answer can come now
	wait, err = p.Send(kafkax.Record{Topic: "shop.orders", Value: []byte("second")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wait(t.Context(), gone); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past deadline, no answer: %v, want DeadlineExceeded", err)
	}
}
