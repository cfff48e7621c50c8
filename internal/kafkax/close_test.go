package kafkax_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/kafkax"
)

// TestCloseWithKafkaGone: a group member whose broker has gone closes
// within CloseTimeout, rather than waiting for its group session to time
// out (librdkafka leaves the group first, and no coordinator answers).
func TestCloseWithKafkaGone(t *testing.T) {
	t.Parallel()
	broker := startBroker(t, 1, "gone.events")
	log := slog.New(slog.DiscardHandler)
	producer := startProducer(t, broker.Addr(), 10*time.Second)
	c, err := kafkax.NewConsumer(kafkax.ConsumerOptions{Brokers: broker.Addr(), Group: "gone", Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	rb := kafkax.Rebalance{
		Assigned: func(tps []kafkax.TopicPartition) (start, paused []kafkax.TopicPartition) {
			for _, tp := range tps {
				tp.Offset = kafkax.OffsetStored
				start = append(start, tp)
			}
			return start, nil
		},
		Revoked: func([]kafkax.TopicPartition, bool) {},
	}
	if err := c.Subscribe([]string{"gone.events"}, rb); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.Produce(t.Context(), "gone.events", []byte("k"), []byte("v"), nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		m, _ := c.Poll(100 * time.Millisecond)
		if m != nil {
			if err := c.StoreOffset(m.Topic, m.Partition, m.Offset+1); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no record within 60s")
		}
	}
	broker.Stop()
	start := time.Now()
	err = c.Close()
	took := time.Since(start)
	t.Logf("Close took %v: %v", took, err)
	if err != nil && !errors.Is(err, kafkax.ErrCloseAbandoned) {
		t.Errorf("Close: %v", err)
	}
	if limit := kafkax.CloseTimeout + 5*time.Second; took > limit {
		t.Errorf("Close took %v with Kafka gone; want at most %v", took, limit)
	}
}
