package kafkax_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/internal/kafkax"
)

func TestAdminCreatesAndDescribesTopics(t *testing.T) {
	broker := startBroker(t, 1)
	admin, err := kafkax.NewAdmin(broker.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	ctx := t.Context()

	if _, found, err := admin.DescribeTopic(ctx, "orders"); err != nil || found {
		t.Fatalf("describe before create: found %v, %v", found, err)
	}
	spec := kafkax.TopicSpec{Name: "orders", Partitions: 3, RetentionMs: 60000, CleanupPolicy: "compact,delete"}
	if err := admin.CreateTopic(ctx, spec); err != nil {
		t.Fatal(err)
	}
	state, found, err := admin.DescribeTopic(ctx, "orders")
	if err != nil || !found {
		t.Fatalf("describe after create: found %v, %v", found, err)
	}
	want := kafkax.TopicState{Name: "orders", Partitions: 3, ReplicationFactor: 1, RetentionMs: 60000, CleanupPolicy: "compact,delete"}
	if state != want {
		t.Errorf("described %+v, want %+v", state, want)
	}
	if err := admin.CreateTopic(ctx, spec); !errors.Is(err, kafkax.ErrTopicExists) {
		t.Errorf("second create: %v, want ErrTopicExists", err)
	}
	err = admin.CreateTopic(ctx, kafkax.TopicSpec{Name: "replicated", Partitions: 1, ReplicationFactor: 3})
	if err == nil || !strings.Contains(err.Error(), "Invalid replication factor") {
		t.Errorf("replication factor 3 on one broker: %v, want Kafka's Invalid replication factor", err)
	}
	// Zero settings take the broker's defaults.
	if err := admin.CreateTopic(ctx, kafkax.TopicSpec{Name: "defaults"}); err != nil {
		t.Fatal(err)
	}
	if state, _, err := admin.DescribeTopic(ctx, "defaults"); err != nil || state.Partitions < 1 || state.ReplicationFactor != 1 {
		t.Errorf("topic with defaults: %+v, %v", state, err)
	}
}
