package huntapp_test

import (
	"context"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/internal/wire"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
	"github.com/cairnhq/cairn/workers/workertest"
)

// startGateway serves a gateway over loopback, producing to e's broker;
// mods change its configuration first.
func startGateway(t testing.TB, e *env, mods ...func(*gateway.Config)) gatewayv1.EventGatewayClient {
	t.Helper()
	// The gateway's own de-duplication is off: a repeated event must reach
	// Kafka, as it does through two gateways, for the worker to skip it.
	cfg := gateway.Config{Registry: e.types, Producer: stamping{e.producer}, DedupWindow: -1}
	for _, mod := range mods {
		mod(&cfg)
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = gw.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return gatewayv1.NewEventGatewayClient(conn)
}

// receiveTimes are the gateway's receive times the tests script, by event
// id: the scripted hunt happens in the past, at the pace the test says,
// not at the pace it runs.
var receiveTimes sync.Map

// stamping is the gateway's producer, whose records carry the scripted
// receive time of their event as cairn-received-at in place of the
// gateway's clock.
type stamping struct{ gateway.Producer }

func (p stamping) Send(r kafkax.Record) (kafkax.Wait, error) {
	id, _ := kafkax.HeaderValue(r.Headers, wire.HeaderEventID)
	if at, ok := receiveTimes.Load(string(id)); ok {
		hs := make([]kafkax.Header, 0, len(r.Headers)+1)
		for _, h := range r.Headers {
			if h.Key != wire.HeaderReceivedAt {
				hs = append(hs, h)
			}
		}
		r.Headers = append(hs, kafkax.Header{Key: wire.HeaderReceivedAt, Value: []byte(at.(time.Time).Format(time.RFC3339Nano))})
	}
	return p.Producer.Send(r)
}

// publish publishes m through the gateway, received when it claims to
// have happened, as by a gateway whose clock agrees with the client's.
func publish(t testing.TB, gw gatewayv1.EventGatewayClient, eventID string, m proto.Message) {
	t.Helper()
	publishAt(t, gw, claimedAt(m), eventID, m)
}

// publishAt publishes m through the gateway, received at recv.
func publishAt(t testing.TB, gw gatewayv1.EventGatewayClient, recv time.Time, eventID string, m proto.Message) {
	t.Helper()
	receiveTimes.Store(eventID, recv)
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gw.Publish(t.Context(), &gatewayv1.PublishRequest{Event: &gatewayv1.Event{
		EventId: eventID, OccurredAt: timestamppb.Now(), Payload: a,
	}}); err != nil {
		t.Fatalf("Publish %T: %v", m, err)
	}
}

// watch subscribes to a player's derived events and returns once the
// subscription is live.
func watch(t testing.TB, c huntv1.HuntServiceClient, playerID string) grpc.ServerStreamingClient[huntv1.WatchPlayerResponse] {
	t.Helper()
	stream, err := c.WatchPlayer(t.Context(), &huntv1.WatchPlayerRequest{PlayerId: playerID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("WatchPlayer: %v", err)
	}
	return stream
}

// kinds receives n events and describes each: its type and, for a
// judgement, its verdict.
func kinds(t testing.TB, stream grpc.ServerStreamingClient[huntv1.WatchPlayerResponse], n int) []string {
	t.Helper()
	var out []string
	for range n {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("WatchPlayer after %v: %v", out, err)
		}
		switch ev := resp.GetEvent().(type) {
		case *huntv1.WatchPlayerResponse_ClueUnlocked:
			out = append(out, fmt.Sprintf("unlocked %d", ev.ClueUnlocked.GetPosition()))
		case *huntv1.WatchPlayerResponse_AnswerJudged:
			out = append(out, ev.AnswerJudged.GetVerdict().String())
		case *huntv1.WatchPlayerResponse_HuntCompleted:
			out = append(out, fmt.Sprintf("completed score %d rank %d", ev.HuntCompleted.GetScore(), ev.HuntCompleted.GetRank()))
		}
	}
	return out
}

// TestScriptedHuntEndToEnd plays a hunt through the gateway, Kafka and a
// worker, and reads the result over HuntService: three players, right and
// wrong answers, an answer published twice, a late answer.
func TestScriptedHuntEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	gw := startGateway(t, e)
	r := e.startWorker(t, "e2e", nil)
	hs := serve(t, r.app)

	huntID := workertest.NewID()
	clues := [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}
	ada, bo, cy := workertest.NewID(), workertest.NewID(), workertest.NewID()
	watchAda, watchCy := watch(t, hs, ada), watch(t, hs, cy)

	publish(t, gw, workertest.NewID(), scriptedHunt(huntID, clues))
	for id, name := range map[string]string{ada: "Ada", bo: "Bo", cy: "Cy"} {
		publish(t, gw, workertest.NewID(), &huntv1.PlayerRegistered{PlayerId: id, DisplayName: name, RegisteredAt: at(-30)})
	}
	publish(t, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: ada, JoinedAt: at(-5)})
	publish(t, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: bo, JoinedAt: at(1)})
	publish(t, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: cy, JoinedAt: at(2)})
	twice := workertest.NewID()
	for _, a := range []struct {
		id string
		m  *huntv1.AnswerSubmitted
	}{
		{workertest.NewID(), answer(huntID, ada, clues[0], "oak", 3)},
		{workertest.NewID(), answer(huntID, cy, clues[0], "pine", 3)},
		{workertest.NewID(), answer(huntID, ada, clues[1], "lake", 4)},
		{workertest.NewID(), answer(huntID, ada, clues[1], " River ", 5)},
		{workertest.NewID(), answer(huntID, bo, clues[0], "oak", 6)},
		{workertest.NewID(), answer(huntID, bo, clues[1], "river", 7)},
		{twice, answer(huntID, cy, clues[0], "oak", 8)},
		{twice, answer(huntID, cy, clues[0], "oak", 8)}, // the same event again: scores once
		{workertest.NewID(), answer(huntID, ada, clues[2], "bell", 10)},
		{workertest.NewID(), answer(huntID, bo, clues[2], "bell", 20)},
		{workertest.NewID(), answer(huntID, cy, clues[1], "river", 61)}, // after the end
	} {
		publish(t, gw, a.id, a.m)
	}

	wantLB := &huntv1.GetLeaderboardResponse{
		HuntId: huntID,
		Top: []*huntv1.Standing{
			{Rank: 1, PlayerId: ada, DisplayName: "Ada", Score: 60, Completed: true, CompletedAt: at(10)},
			{Rank: 2, PlayerId: bo, DisplayName: "Bo", Score: 60, Completed: true, CompletedAt: at(20)},
		},
		Own:         &huntv1.Standing{Rank: 3, PlayerId: cy, DisplayName: "Cy", Score: 10},
		PlayerCount: 3,
	}
	var lb *huntv1.GetLeaderboardResponse
	workertest.Eventually(t, "leaderboard", func() error {
		var err error
		lb, err = hs.GetLeaderboard(t.Context(), &huntv1.GetLeaderboardRequest{HuntId: huntID, Limit: 2, PlayerId: cy})
		if err != nil {
			return err
		}
		if diff := cmp.Diff(wantLB, lb, protocmp.Transform()); diff != "" {
			return fmt.Errorf("leaderboard differs (-want +got):\n%s", diff)
		}
		return nil
	})
	// The late answer is the last event: once it is judged, all are.
	if got, want := kinds(t, watchCy, 5), []string{"unlocked 0", "VERDICT_WRONG", "VERDICT_CORRECT", "unlocked 1", "VERDICT_TOO_LATE"}; !cmp.Equal(got, want) {
		t.Errorf("Cy watched %v, want %v", got, want)
	}
	if got, want := kinds(t, watchAda, 8), []string{
		"unlocked 0", "VERDICT_CORRECT", "unlocked 1", "VERDICT_WRONG", "VERDICT_CORRECT", "unlocked 2", "VERDICT_CORRECT", "completed score 60 rank 1",
	}; !cmp.Equal(got, want) {
		t.Errorf("Ada watched %v, want %v", got, want)
	}

	progress, err := hs.GetPlayerProgress(t.Context(), &huntv1.GetPlayerProgressRequest{HuntId: huntID, PlayerId: cy})
	if err != nil {
		t.Fatal(err)
	}
	wantCy := &huntv1.PlayerProgress{
		HuntId: huntID, PlayerId: cy, DisplayName: "Cy", JoinedAt: at(2), Position: 1, ClueCount: 3,
		CurrentClue: &huntv1.CurrentClue{ClueId: clues[1], Text: "clue 2", Points: 20},
		Score:       10,
	}
	if diff := cmp.Diff(wantCy, progress.GetProgress(), protocmp.Transform()); diff != "" {
		t.Errorf("Cy's progress differs (-want +got):\n%s", diff)
	}
	progress, err = hs.GetPlayerProgress(t.Context(), &huntv1.GetPlayerProgressRequest{HuntId: huntID, PlayerId: ada})
	if err != nil {
		t.Fatal(err)
	}
	wantAda := &huntv1.PlayerProgress{
		HuntId: huntID, PlayerId: ada, DisplayName: "Ada", JoinedAt: at(-5), Position: 3, ClueCount: 3,
		Score: 60, Completed: true, CompletedAt: at(10),
	}
	if diff := cmp.Diff(wantAda, progress.GetProgress(), protocmp.Transform()); diff != "" {
		t.Errorf("Ada's progress differs (-want +got):\n%s", diff)
	}
	h, err := hs.GetHunt(t.Context(), &huntv1.GetHuntRequest{HuntId: huntID})
	if err != nil {
		t.Fatal(err)
	}
	wantHunt := &huntv1.HuntSummary{
		HuntId: huntID, Title: "Old town", ClueCount: 3, TotalPoints: 60, StartsAt: at(0), EndsAt: at(60),
		PlayerCount: 3, CompletedCount: 2,
	}
	if diff := cmp.Diff(wantHunt, h.GetHunt(), protocmp.Transform()); diff != "" {
		t.Errorf("hunt differs (-want +got):\n%s", diff)
	}
	if got := r.Counter(t, "cairn_worker_duplicates_skipped_total"); got != 1 {
		t.Errorf("duplicates skipped = %v, want 1", got)
	}

	// The derived topic holds each derived event once, under its id.
	derived := workertest.ReadTopic(t, e.broker.Addr(), "cairn.hunt.derived", 8+7+5)
	seen := make(map[string]bool)
	for _, m := range derived {
		id := header(m, wire.HeaderEventID)
		if seen[id] {
			t.Errorf("derived event %s produced twice", id)
		}
		seen[id] = true
		if string(m.Key) != huntID {
			t.Errorf("derived record key %q, want the hunt id", m.Key)
		}
	}
	if len(seen) != 8+7+5 {
		t.Errorf("%d derived events, want %d", len(seen), 8+7+5)
	}
	if wire.HeaderEventID != wire.HeaderEventID {
		t.Errorf("workers read event ids from %q, the gateway writes %q", wire.HeaderEventID, wire.HeaderEventID)
	}
}

// BenchmarkPublishToWatch measures what a player feels: from Publish of an
// answer at the gateway to its judgement arriving on WatchPlayer, through
// Kafka, the worker's transaction and the outbox. Answers are sent one at a
// time, so each latency is the whole trip.
func BenchmarkPublishToWatch(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) { benchmarkPublishToWatch(b, engine) })
	}
}

func benchmarkPublishToWatch(b *testing.B, engine sqldb.Engine) {
	e := newEnv(b, engine)
	gw := startGateway(b, e)
	r := e.startWorker(b, "bench", nil)
	hs := serve(b, r.app)
	huntID, player := workertest.NewID(), workertest.NewID()
	clues := [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}
	publish(b, gw, workertest.NewID(), scriptedHunt(huntID, clues))
	stream := watch(b, hs, player)
	publish(b, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: player, JoinedAt: at(1)})
	if _, err := stream.Recv(); err != nil { // the first clue
		b.Fatal(err)
	}
	var latencies []time.Duration
	i := 0
	for b.Loop() {
		i++
		// Wrong answers 31 s apart never trip the rate limit; those past
		// the hunt's end are judged too late, a judgement all the same.
		start := time.Now()
		publish(b, gw, workertest.NewID(), answer(huntID, player, clues[0], "wrong", 2+float64(i)*31/60))
		resp, err := stream.Recv()
		if err != nil {
			b.Fatal(err)
		}
		if resp.GetAnswerJudged() == nil {
			b.Fatalf("watched %v, want a judgement", resp)
		}
		latencies = append(latencies, time.Since(start))
	}
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
}

// TestWatchSeesEveryWorkersEvents: with two workers in a group, a player
// watching through one of them sees the events the other derived.
func TestWatchSeesEveryWorkersEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	gw := startGateway(t, e)
	a := e.startWorker(t, "pair", nil)
	e.startWorker(t, "pair", nil)
	player := workertest.NewID()
	// A watcher that misses the other worker's events would wait forever:
	// the deadline turns that into a failure.
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	stream, err := serve(t, a.app).WatchPlayer(ctx, &huntv1.WatchPlayerRequest{PlayerId: player})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatal(err)
	}
	// Hunts on every partition: some are the other worker's.
	const hunts = 9
	for range hunts {
		huntID := workertest.NewID()
		publish(t, gw, workertest.NewID(), scriptedHunt(huntID, [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}))
		publish(t, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: player, JoinedAt: at(1)})
	}
	got := kinds(t, stream, hunts) // one first clue per hunt
	for _, k := range got {
		if k != "unlocked 0" {
			t.Fatalf("watched %v, want %d first clues", got, hunts)
		}
	}
}

// TestClaimedTimesEndToEnd (issue 9, item 2): through the gateway, a
// player who joins stamped 4m50s early and sends answers stamped 31 s apart
// within one second of the gateway's clock is rate limited after the
// third wrong one.
func TestClaimedTimesEndToEnd(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	gw := startGateway(t, e)
	r := e.startWorker(t, "clock", nil)
	hs := serve(t, r.app)
	huntID, player := workertest.NewID(), workertest.NewID()
	clues := [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}
	stream := watch(t, hs, player)
	now := huntStart.Add(30 * time.Minute)
	publish(t, gw, workertest.NewID(), scriptedHunt(huntID, clues))
	publishAt(t, gw, now, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: player, JoinedAt: at(25 + 1.0/6)})
	for i := range 6 {
		claimed := 25 + 1.0/6 + float64(i+1)*31/60
		publishAt(t, gw, now.Add(time.Duration(i+1)*100*time.Millisecond), workertest.NewID(), answer(huntID, player, clues[0], "elm", claimed))
	}
	want := []string{"unlocked 0", "VERDICT_WRONG", "VERDICT_WRONG", "VERDICT_WRONG", "VERDICT_RATE_LIMITED", "VERDICT_RATE_LIMITED", "VERDICT_RATE_LIMITED"}
	if got := kinds(t, stream, len(want)); !cmp.Equal(got, want) {
		t.Errorf("watched %v, want %v", got, want)
	}
}

// TestRefusalsReachThePlayer (issue 9, item 14): a join the rules refuse
// (unknown hunt, hunt full) and an answer they refuse (not joined) reach
// the player's WatchPlayer stream as EventRefused, naming the event and
// the reason.
func TestRefusalsReachThePlayer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	gw := startGateway(t, e)
	r := e.startWorker(t, "refusals", nil)
	hs := serve(t, r.app)
	full, first, player := workertest.NewID(), workertest.NewID(), workertest.NewID()
	clues := [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}
	stream := watch(t, hs, player)
	h := scriptedHunt(full, clues)
	h.MaxPlayers = 1
	publish(t, gw, workertest.NewID(), h)
	publish(t, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: full, PlayerId: first, JoinedAt: at(1)})
	nowhere, crowded, unjoined := workertest.NewID(), workertest.NewID(), workertest.NewID()
	publish(t, gw, nowhere, &huntv1.PlayerJoinedHunt{HuntId: workertest.NewID(), PlayerId: player, JoinedAt: at(2)})
	publish(t, gw, crowded, &huntv1.PlayerJoinedHunt{HuntId: full, PlayerId: player, JoinedAt: at(3)})
	publish(t, gw, unjoined, answer(full, player, clues[0], "oak", 4))
	var got []string
	for range 3 {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("WatchPlayer after %v: %v", got, err)
		}
		ref := resp.GetEventRefused()
		got = append(got, fmt.Sprintf("%s %s %s", ref.GetRefusedEventId(), ref.GetRefusedEventType(), ref.GetReason()))
	}
	want := []string{
		nowhere + " cairn.hunt.v1.PlayerJoinedHunt " + hunt.ErrUnknownHunt.Error(),
		crowded + " cairn.hunt.v1.PlayerJoinedHunt " + hunt.ErrHuntFull.Error(),
		unjoined + " cairn.hunt.v1.AnswerSubmitted " + hunt.ErrNotJoined.Error(),
	}
	// The unknown hunt's join is keyed by another hunt, so it may sit on
	// another partition: the refusals' order on the stream is not defined.
	slices.Sort(got)
	slices.Sort(want)
	if !cmp.Equal(got, want) {
		t.Errorf("watched %q, want %q", got, want)
	}
}

// TestRefusalsInPlayerProgress: GetPlayerProgress shows the rules' last
// refusals of a player's events in a hunt, latest first and at most five,
// whether the player joined it (with their progress), could not (full),
// or named a hunt that does not exist.
func TestRefusalsInPlayerProgress(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	gw := startGateway(t, e)
	r := e.startWorker(t, "progress-refusals", nil)
	hs := serve(t, r.app)
	full, open, first, player := workertest.NewID(), workertest.NewID(), workertest.NewID(), workertest.NewID()
	clues := [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}
	stream := watch(t, hs, player)
	crowdedHunt := scriptedHunt(full, clues)
	crowdedHunt.MaxPlayers = 1
	publish(t, gw, workertest.NewID(), crowdedHunt)
	publish(t, gw, workertest.NewID(), scriptedHunt(open, clues))
	publish(t, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: full, PlayerId: first, JoinedAt: at(1)})

	nowhere, missing := workertest.NewID(), workertest.NewID()
	publish(t, gw, nowhere, &huntv1.PlayerJoinedHunt{HuntId: missing, PlayerId: player, JoinedAt: at(2)})
	crowded := workertest.NewID()
	publish(t, gw, crowded, &huntv1.PlayerJoinedHunt{HuntId: full, PlayerId: player, JoinedAt: at(3)})
	var unjoined []string // answers to the full hunt, refused: the player is not in it
	for i := range 6 {
		id := workertest.NewID()
		unjoined = append(unjoined, id)
		publish(t, gw, id, answer(full, player, clues[0], "oak", float64(4+i)))
	}
	early := workertest.NewID() // an answer before joining the open hunt, refused; then the join
	publish(t, gw, early, answer(open, player, clues[0], "oak", 10))
	publish(t, gw, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: open, PlayerId: player, JoinedAt: at(11)})
	// Every refusal's row is committed before its EventRefused is produced:
	// once the stream has them all, GetPlayerProgress must show them.
	refusals := 2 + len(unjoined) + 1
	for n := 0; n < refusals; {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("WatchPlayer after %d refusals: %v", n, err)
		}
		if resp.GetEventRefused() != nil {
			n++
		}
	}

	type shown struct{ id, typ, reason string }
	refusalsOf := func(p *huntv1.PlayerProgress) []shown {
		var out []shown
		for _, r := range p.GetRefusals() {
			if r.GetHuntId() != p.GetHuntId() || r.GetPlayerId() != player || !r.GetRefusedAt().IsValid() || r.GetMessage() == "" {
				t.Errorf("refusal %v does not describe itself fully", r)
			}
			out = append(out, shown{r.GetRefusedEventId(), r.GetRefusedEventType(), r.GetReason()})
		}
		return out
	}
	progress := func(huntID, playerID string) *huntv1.PlayerProgress {
		t.Helper()
		resp, err := hs.GetPlayerProgress(t.Context(), &huntv1.GetPlayerProgressRequest{HuntId: huntID, PlayerId: playerID})
		if err != nil {
			t.Fatalf("GetPlayerProgress(%s, %s): %v", huntID, playerID, err)
		}
		return resp.GetProgress()
	}

	// The full hunt: not joined; the last five refusals, latest first (one
	// hunt's events share a partition: their order is the log's).
	p := progress(full, player)
	if p.GetJoinedAt() != nil || p.GetCurrentClue() != nil || p.GetClueCount() != 3 {
		t.Errorf("progress of a player refused from %s = %v, want not joined, 3 clues, no current clue", full, p)
	}
	var want []shown
	for i := len(unjoined) - 1; i >= len(unjoined)-5; i-- {
		want = append(want, shown{unjoined[i], "cairn.hunt.v1.AnswerSubmitted", hunt.ErrNotJoined.Error()})
	}
	if got := refusalsOf(p); !cmp.Equal(got, want, cmp.AllowUnexported(shown{})) {
		t.Errorf("refusals in %s = %v, want the last five answers, latest first: %v", full, got, want)
	}
	if got, want := p.GetRefusals()[0].GetRefusedAt().AsTime(), at(9).AsTime(); !got.Equal(want) {
		t.Errorf("latest refusal at %v, want the gateway's receive time %v", got, want)
	}

	// A hunt that does not exist: the refusal alone.
	p = progress(missing, player)
	if got, want := refusalsOf(p), []shown{{nowhere, "cairn.hunt.v1.PlayerJoinedHunt", hunt.ErrUnknownHunt.Error()}}; !cmp.Equal(got, want, cmp.AllowUnexported(shown{})) {
		t.Errorf("refusals in the unknown hunt = %v, want %v", got, want)
	}

	// The open hunt: joined after a refused answer; both show.
	p = progress(open, player)
	if p.GetJoinedAt() == nil || p.GetCurrentClue().GetClueId() != clues[0] {
		t.Errorf("progress in %s = %v, want joined, on the first clue", open, p)
	}
	if got, want := refusalsOf(p), []shown{{early, "cairn.hunt.v1.AnswerSubmitted", hunt.ErrNotJoined.Error()}}; !cmp.Equal(got, want, cmp.AllowUnexported(shown{})) {
		t.Errorf("refusals in %s = %v, want %v", open, got, want)
	}

	// Without refusals nothing changes: the first player's progress has
	// none, and a player who neither joined nor was refused is not found.
	if p := progress(full, first); len(p.GetRefusals()) != 0 || p.GetJoinedAt() == nil {
		t.Errorf("progress of %s = %v, want joined, without refusals", first, p)
	}
	if _, err := hs.GetPlayerProgress(t.Context(), &huntv1.GetPlayerProgressRequest{HuntId: open, PlayerId: first}); status.Code(err) != codes.NotFound {
		t.Errorf("GetPlayerProgress of a player with neither entry nor refusal = %v, want NotFound", err)
	}
}
