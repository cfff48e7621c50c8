package kafkax_test

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/kafkax"
)

// TestPatternSubscriptionFollowsNewTopics: a consumer subscribed to a
// pattern reads a topic created after it joined, with no new Subscribe,
// and never joins the topics it excludes.
func TestPatternSubscriptionFollowsNewTopics(t *testing.T) {
	t.Parallel()
	broker := startBroker(t, 2, "shop.orders", "cairn.deadletter")
	log := slog.New(slog.DiscardHandler)
	producer := startProducer(t, broker.Addr(), 10*time.Second)
	c, err := kafkax.NewConsumer(kafkax.ConsumerOptions{
		Brokers: broker.Addr(), Group: "pattern", Logger: log,
		TopicRefresh: 200 * time.Millisecond, ExcludeTopics: []string{"cairn.deadletter"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var assigned []string // topics of every partition ever assigned
	rb := kafkax.Rebalance{
		Assigned: func(tps []kafkax.TopicPartition) (start, paused []kafkax.TopicPartition) {
			for _, tp := range tps {
				assigned = append(assigned, tp.Topic)
				tp.Offset = kafkax.OffsetStored
				start = append(start, tp)
			}
			return start, nil
		},
		Revoked: func([]kafkax.TopicPartition, bool) {},
	}
	const pattern = "^[^_].*"
	if !kafkax.IsPattern(pattern) || kafkax.IsPattern("shop.orders") {
		t.Fatal("IsPattern does not tell a pattern from a topic")
	}
	if err := c.Subscribe([]string{pattern}, rb); err != nil {
		t.Fatal(err)
	}
	for _, topic := range []string{"shop.orders", "cairn.deadletter"} {
		if _, err := producer.Produce(t.Context(), topic, []byte("k"), []byte("before "+topic), nil); err != nil {
			t.Fatal(err)
		}
	}
	// awaitValue polls until a record with value want arrives.
	awaitValue := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			m, err := c.Poll(100 * time.Millisecond)
			if err != nil {
				t.Logf("poll: %v", err)
			}
			if m != nil && string(m.Value) == want {
				return
			}
		}
		t.Fatalf("no record %q within 60s; topics assigned: %v", want, assigned)
	}
	awaitValue("before shop.orders")

	// A topic created after the consumer joined: no Subscribe again.
	admin, err := kafkax.NewAdmin(broker.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(t.Context(), kafkax.TopicSpec{Name: "shop.shipments", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := producer.Produce(t.Context(), "shop.shipments", []byte("k"), []byte("after"), nil); err != nil {
		t.Fatal(err)
	}
	awaitValue("after")
	if slices.Contains(assigned, "cairn.deadletter") {
		t.Errorf("the excluded topic was assigned: %v", assigned)
	}
	if !slices.Contains(assigned, "shop.shipments") {
		t.Errorf("the new topic was never assigned: %v", assigned)
	}
}
