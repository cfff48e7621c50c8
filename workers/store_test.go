package workers

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
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

func inputs(msgs ...proto.Message) []input {
	out := make([]input, len(msgs))
	for i, m := range msgs {
		out[i] = input{eventID: fmt.Sprintf("e%d", i), offset: int64(i), msg: m}
	}
	return out
}

func TestStore(t *testing.T) {
	t.Parallel()
	for _, engine := range sqldbtest.Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := sqldbtest.Open(t, engine)
			s, err := openStore(ctx, db, "g")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := openStore(ctx, db, "g"); err != nil {
				t.Fatalf("migrating twice: %v", err)
			}
			if off, err := s.offset(ctx, "t", 0); err != nil || off != noOffset {
				t.Fatalf("offset of a new partition = %d, %v", off, err)
			}
			batch := inputs(
				testHunt("h", 0),
				&huntv1.PlayerRegistered{PlayerId: "p", DisplayName: "Pat", RegisteredAt: ts(-1)},
				&huntv1.PlayerJoinedHunt{HuntId: "h", PlayerId: "p", JoinedAt: ts(1)},
				ans("h", "p", "c1", "a", 2),
				&huntv1.PlayerJoinedHunt{HuntId: "nope", PlayerId: "p", JoinedAt: ts(1)}, // rejected
			)
			res, err := s.applyBatch(ctx, "t", 0, noOffset, batch, 5)
			if err != nil {
				t.Fatal(err)
			}
			if res.applied != 4 || res.duplicates != 0 || len(res.rejected) != 1 || res.derived != 3 {
				t.Errorf("first batch: %+v", res)
			}
			if !errors.Is(res.rejected[0], hunt.ErrUnknownHunt) {
				t.Errorf("rejection %v, want unknown hunt", res.rejected[0])
			}

			// The same events again, as after a crash: all skipped.
			res, err = s.applyBatch(ctx, "t", 0, 5, batch, 5)
			if err != nil || res.duplicates != 5 || res.applied != 0 || res.derived != 0 {
				t.Errorf("replayed batch: %+v, %v", res, err)
			}
			// A batch saved over an offset no longer saved is fenced and
			// changes nothing.
			more := []input{{eventID: "late", offset: 5, msg: ans("h", "p", "c2", "b", 3)}}
			if _, err := s.applyBatch(ctx, "t", 0, 3, more, 6); !errors.Is(err, errFenced) {
				t.Errorf("fenced batch: %v, want errFenced", err)
			}
			if off, _ := s.offset(ctx, "t", 0); off != 5 {
				t.Errorf("offset after the fenced batch = %d, want 5", off)
			}
			if res, err := s.applyBatch(ctx, "t", 0, 5, more, 6); err != nil || res.applied != 1 || res.derived != 2 {
				t.Errorf("last batch: %+v, %v", res, err)
			}

			rows, err := s.unsent(ctx, "t", 0)
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, r := range rows {
				kinds = append(kinds, string(r.Type.Name()))
			}
			if want := "[ClueUnlocked AnswerJudged ClueUnlocked AnswerJudged HuntCompleted]"; fmt.Sprint(kinds) != want {
				t.Errorf("outbox = %v, want %s", kinds, want)
			}
			if rows[1].EventID != wire.DerivedEventID("e3", "cairn.hunt.v1.AnswerJudged") {
				t.Errorf("derived event id %s is not derived from its cause", rows[1].EventID)
			}
			if err := s.markSent(ctx, rows[:2]); err != nil {
				t.Fatal(err)
			}
			if rows, _ := s.unsent(ctx, "t", 0); len(rows) != 3 {
				t.Errorf("%d unsent after marking 2 of 5", len(rows))
			}

			st, found, err := s.view(ctx, "h", nil)
			if err != nil || !found {
				t.Fatalf("view: %v, %v", found, err)
			}
			lb, err := st.Leaderboard("h", 10, "p")
			if err != nil {
				t.Fatal(err)
			}
			if lb.Own == nil || lb.Own.Score != 30 || !lb.Own.Completed || lb.Own.DisplayName != "Pat" {
				t.Errorf("own standing = %+v", lb.Own)
			}
			if _, found, err := s.view(ctx, "unknown", nil); found || err != nil {
				t.Errorf("view of an unknown hunt: %v, %v", found, err)
			}
		})
	}
}

// BenchmarkApply measures events applied per second by one partition of
// one worker on each store: batches of 500 answers to one hunt.
func BenchmarkApply(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			db := sqldbtest.Open(b, engine)
			s, err := openStore(ctx, db, "bench")
			if err != nil {
				b.Fatal(err)
			}
			const players = 200
			setup := []proto.Message{testHunt("h", 0)}
			for p := range players {
				setup = append(setup, &huntv1.PlayerJoinedHunt{HuntId: "h", PlayerId: fmt.Sprintf("p%d", p), JoinedAt: ts(1)})
			}
			in := inputs(setup...)
			if _, err := s.applyBatch(ctx, "t", 0, noOffset, in, int64(len(in))); err != nil {
				b.Fatal(err)
			}
			saved := int64(len(in))
			const batch = 500
			b.ResetTimer()
			for n := 0; n < b.N; n += batch {
				size := min(batch, b.N-n)
				ins := make([]input, size)
				for i := range ins {
					k := n + i
					ins[i] = input{
						eventID: fmt.Sprintf("a%d", k),
						offset:  saved + int64(i),
						msg:     ans("h", fmt.Sprintf("p%d", k%players), "c1", "wrong", 2+k/players),
					}
				}
				if _, err := s.applyBatch(ctx, "t", 0, saved, ins, saved+int64(size)); err != nil {
					b.Fatal(err)
				}
				saved += int64(size)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
