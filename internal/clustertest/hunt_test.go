package clustertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde"
	"github.com/confluentinc/confluent-kafka-go/v2/schemaregistry/serde/protobuf"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/testing/protocmp"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// TestScriptedHunt plays three players through a hunt: gateway → Kafka →
// worker → HuntService, all on the real cluster. Then Confluent's own
// protobuf deserializer reads the records the gateway produced, through the
// registry's REST API.
func TestScriptedHunt(t *testing.T) {
	needCluster(t)
	freshTopics(t)
	gwp := startGateway(t, "gateway", suite.brokers)
	w := startWorker(t, "worker", "hunt-"+newID(), newDatabase(t))
	gw, hs := gatewayClient(t, gwp.addr), huntClient(t, w.addr)

	huntID := newID()
	created, clues := newHunt(huntID)
	ada, bo, cy := newID(), newID(), newID()
	var sent []proto.Message
	pub := func(m proto.Message) {
		publish(t, gw, m)
		sent = append(sent, m)
	}
	pub(created)
	for id, name := range map[string]string{ada: "Ada", bo: "Bo", cy: "Cy"} {
		pub(&huntv1.PlayerRegistered{PlayerId: id, DisplayName: name, RegisteredAt: at(-30)})
	}
	pub(&huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: ada, JoinedAt: at(-5)})
	pub(&huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: bo, JoinedAt: at(1)})
	pub(&huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: cy, JoinedAt: at(2)})
	for _, a := range []*huntv1.AnswerSubmitted{
		answer(huntID, ada, clues[0], "oak", 3),
		answer(huntID, cy, clues[0], "pine", 3),
		answer(huntID, ada, clues[1], "lake", 4),
		answer(huntID, ada, clues[1], " River ", 5),
		answer(huntID, bo, clues[0], "oak", 6),
		answer(huntID, bo, clues[1], "river", 7),
		answer(huntID, cy, clues[0], "oak", 8),
		answer(huntID, ada, clues[2], "bell", 10),
		answer(huntID, bo, clues[2], "bell", 20),
	} {
		pub(a)
	}

	want := &huntv1.GetLeaderboardResponse{
		HuntId: huntID,
		Top: []*huntv1.Standing{
			{Rank: 1, PlayerId: ada, DisplayName: "Ada", Score: 60, Completed: true},
			{Rank: 2, PlayerId: bo, DisplayName: "Bo", Score: 60, Completed: true},
		},
		Own:         &huntv1.Standing{Rank: 3, PlayerId: cy, DisplayName: "Cy", Score: 10},
		PlayerCount: 3,
	}
	eventually(t, "leaderboard", func() error {
		lb, err := hs.GetLeaderboard(t.Context(), &huntv1.GetLeaderboardRequest{HuntId: huntID, Limit: 2, PlayerId: cy})
		if err != nil {
			return err
		}
		// Completion times are the gateway's receive times: not scripted.
		if diff := cmp.Diff(want, lb, protocmp.Transform(), protocmp.IgnoreFields(&huntv1.Standing{}, "completed_at")); diff != "" {
			return fmt.Errorf("leaderboard differs (-want +got):\n%s", diff)
		}
		return nil
	})
	progress, err := hs.GetPlayerProgress(t.Context(), &huntv1.GetPlayerProgressRequest{HuntId: huntID, PlayerId: cy})
	if err != nil {
		t.Fatal(err)
	}
	wantCy := &huntv1.PlayerProgress{
		HuntId: huntID, PlayerId: cy, DisplayName: "Cy", Position: 1, ClueCount: 3,
		CurrentClue: &huntv1.CurrentClue{ClueId: clues[1], Text: "clue 2", Points: 20},
		Score:       10,
	}
	if diff := cmp.Diff(wantCy, progress.GetProgress(), protocmp.Transform(), protocmp.IgnoreFields(&huntv1.PlayerProgress{}, "joined_at")); diff != "" {
		t.Errorf("Cy's progress differs (-want +got):\n%s", diff)
	}

	// The derived events reached Kafka too: Ada and Bo completed. The state
	// is committed before the relay produces its outbox, so allow the relay
	// its moment.
	completed := 0
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(500 * time.Millisecond) {
		completed = 0
		for _, r := range readAll(t, "cairn.hunt.derived") {
			if r.eventType == "cairn.hunt.v1.HuntCompleted" {
				completed++
			}
		}
		if completed >= 2 || time.Now().After(deadline) {
			break
		}
	}
	if completed != 2 {
		t.Errorf("cairn.hunt.derived holds %d HuntCompleted events, want 2", completed)
	}

	// Any Confluent client reads the gateway's records.
	sr, err := schemaregistry.NewClient(schemaregistry.NewConfig("http://" + suite.registryAddr))
	if err != nil {
		t.Fatal(err)
	}
	deser, err := protobuf.NewDeserializer(sr, serde.ValueSerde, protobuf.NewDeserializerConfig())
	if err != nil {
		t.Fatal(err)
	}
	deser.ProtoRegistry = protoregistry.GlobalTypes
	var got []proto.Message
	for _, topic := range []string{"cairn.hunt.events", "cairn.player.events"} {
		for _, r := range readAll(t, topic) {
			m, err := deser.Deserialize(r.topic, r.value)
			if err != nil {
				t.Fatalf("Confluent deserializer on %s/%d@%d: %v", r.topic, r.partition, r.offset, err)
			}
			got = append(got, m.(proto.Message))
		}
	}
	if len(got) != len(sent) {
		t.Fatalf("Confluent deserializer read %d records, want %d", len(got), len(sent))
	}
	// Kafka keeps order within a partition only: compare as sets.
	byBytes := cmpopts.SortSlices(func(a, b proto.Message) bool {
		x, _ := proto.MarshalOptions{Deterministic: true}.Marshal(a)
		y, _ := proto.MarshalOptions{Deterministic: true}.Marshal(b)
		return string(x) < string(y)
	})
	if diff := cmp.Diff(sent, got, byBytes, protocmp.Transform()); diff != "" {
		t.Errorf("Confluent deserializer read other events (-sent +read):\n%s", diff)
	}
}
