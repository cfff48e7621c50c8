package huntapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/hunt"
)

var t0 = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func ts(minutes int) *timestamppb.Timestamp {
	return timestamppb.New(t0.Add(time.Duration(minutes) * time.Minute))
}

func testHunt(id string, players uint32) *huntv1.HuntCreated {
	return &huntv1.HuntCreated{
		HuntId: id, Title: "t", StartsAt: ts(0), EndsAt: ts(6000), MaxPlayers: players,
		Clues: []*huntv1.Clue{
			{ClueId: "c1", Text: "one", Points: 10, Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: hunt.AnswerSHA256("a")}},
			{ClueId: "c2", Text: "two", Points: 20, Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: hunt.AnswerSHA256("b")}},
		},
	}
}

func ans(huntID, player, clue, text string, minute int) *huntv1.AnswerSubmitted {
	return &huntv1.AnswerSubmitted{HuntId: huntID, PlayerId: player, ClueId: clue, Answer: &huntv1.AnswerSubmitted_Text{Text: text}, SubmittedAt: ts(minute)}
}

func inputs(msgs ...proto.Message) []*workers.Event {
	out := make([]*workers.Event, len(msgs))
	for i, m := range msgs {
		// Received when it claims to have happened; a hunt at the start.
		at := ts(0).AsTime()
		if c, ok := m.(interface{ GetJoinedAt() *timestamppb.Timestamp }); ok {
			at = c.GetJoinedAt().AsTime()
		} else if c, ok := m.(interface{ GetSubmittedAt() *timestamppb.Timestamp }); ok {
			at = c.GetSubmittedAt().AsTime()
		}
		out[i] = &workers.Event{EventID: fmt.Sprintf("e%d", i), Offset: int64(i), Message: m, ReceivedAt: at}
	}
	return out
}

// openDB returns a database holding the hunt tables.
func openDB(t testing.TB, engine sqldb.Engine) *sqldb.DB {
	t.Helper()
	db := sqldbtest.Open(t, engine)
	for range 2 { // migrating twice changes nothing
		if err := db.Migrate(t.Context(), "hunt", migrations(engine)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := db.Prepare(t.Context(), sqliteStatements())
	if err != nil {
		t.Fatal(err)
	}
	prepared.Store(db, p)
	t.Cleanup(func() {
		prepared.Delete(db)
		caches.Delete(db)
		p.Close()
	})
	return db
}

// prepared holds the statements openDB prepared on each database, which
// apply uses as the app does. Databases opened otherwise have none.
var prepared sync.Map // *sqldb.DB → *sqldb.Prepared

// caches holds the entrant cache apply uses on each database, as the app
// keeps one.
var caches sync.Map // *sqldb.DB → *entrantCache

// apply applies events in one transaction of db, as the app does.
func apply(ctx context.Context, db *sqldb.DB, events []*workers.Event) (workers.Result, error) {
	c, _ := caches.LoadOrStore(db, newEntrantCache(DefaultCachedEntrants))
	return applyWith(ctx, db, c.(*entrantCache), events)
}

func TestApply(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := openDB(t, engine)
		batch := inputs(
			testHunt("h", 0),
			&huntv1.PlayerRegistered{PlayerId: "p", DisplayName: "Pat", RegisteredAt: ts(-1)},
			&huntv1.PlayerJoinedHunt{HuntId: "h", PlayerId: "p", JoinedAt: ts(1)},
			ans("h", "p", "c1", "a", 2),
			&huntv1.PlayerJoinedHunt{HuntId: "nope", PlayerId: "p", JoinedAt: ts(1)}, // rejected
		)
		res, err := apply(ctx, db, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Rejected) != 1 || len(res.Derived) != 4 { // the refusal is told to the player too
			t.Fatalf("first batch: %+v", res)
		}
		if res.Rejected[0].Event != batch[4] || res.Rejected[0].Reason != hunt.ErrUnknownHunt.Error() {
			t.Errorf("rejection %+v, want unknown hunt for the last event", res.Rejected[0])
		}
		res, err = apply(ctx, db, inputs(testHunt("h2", 0), ans("h", "p", "c2", "b", 3)))
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, d := range res.Derived {
			kinds = append(kinds, string(d.Message.ProtoReflect().Descriptor().Name()))
			if string(d.Key) != "h" {
				t.Errorf("%s keyed %q, want the hunt id", d.Message.ProtoReflect().Descriptor().Name(), d.Key)
			}
			if d.Cause.EventID != "e1" {
				t.Errorf("derived from %s, want e1", d.Cause.EventID)
			}
		}
		if want := "[AnswerJudged HuntCompleted]"; fmt.Sprint(kinds) != want {
			t.Errorf("derived %v, want %s", kinds, want)
		}

		lb, err := readLeaderboard(ctx, db, "h", 10, "p")
		if err != nil {
			t.Fatal(err)
		}
		if lb.Own == nil || lb.Own.Score != 30 || !lb.Own.Completed || lb.Own.DisplayName != "Pat" {
			t.Errorf("own standing = %+v", lb.Own)
		}
		if _, err := readLeaderboard(ctx, db, "unknown", 10, ""); !errors.Is(err, hunt.ErrUnknownHunt) {
			t.Errorf("leaderboard of an unknown hunt: %v", err)
		}
	})
}

// BenchmarkApply measures events applied per second by the hunt's apply
// on each store: batches of 500 answers to one hunt, one transaction each.
func BenchmarkApply(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			db := openDB(b, engine)
			const players = 200
			setup := []proto.Message{testHunt("h", 0)}
			for p := range players {
				setup = append(setup, &huntv1.PlayerJoinedHunt{HuntId: "h", PlayerId: fmt.Sprintf("p%d", p), JoinedAt: ts(1)})
			}
			if _, err := apply(ctx, db, inputs(setup...)); err != nil {
				b.Fatal(err)
			}
			const batch = 500
			b.ResetTimer()
			for n := 0; n < b.N; n += batch {
				size := min(batch, b.N-n)
				evs := make([]*workers.Event, size)
				for i := range evs {
					k := n + i
					m := ans("h", fmt.Sprintf("p%d", k%players), "c1", "wrong", 2+k/players)
					evs[i] = &workers.Event{EventID: fmt.Sprintf("a%d", k), Offset: int64(k), Message: m, ReceivedAt: m.GetSubmittedAt().AsTime()}
				}
				if _, err := apply(ctx, db, evs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
