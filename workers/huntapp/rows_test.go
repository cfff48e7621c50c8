package huntapp

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// randomGame is a hunt played by players who register, join (some after
// the hunt is full) and answer right or wrong, in no particular order.
func randomGame(r *rand.Rand) []proto.Message {
	players := 3 + r.IntN(12)
	msgs := []proto.Message{testHunt("h", uint32(players-r.IntN(3)))}
	pid := func(i int) string { return fmt.Sprintf("p%02d", i) }
	minute := 1
	for range 40 + r.IntN(120) {
		p := pid(r.IntN(players))
		minute += r.IntN(3)
		switch k := r.IntN(10); {
		case k == 0:
			msgs = append(msgs, &huntv1.PlayerRegistered{PlayerId: p, DisplayName: "name " + p, RegisteredAt: ts(minute)})
		case k <= 2:
			msgs = append(msgs, &huntv1.PlayerJoinedHunt{HuntId: "h", PlayerId: p, JoinedAt: ts(minute)})
		default:
			clue, text := []string{"c1", "c2"}[r.IntN(2)], []string{"a", "b", "wrong"}[r.IntN(3)]
			msgs = append(msgs, ans("h", p, clue, text, minute))
		}
	}
	return msgs
}

// TestRowsMatchRules applies random games to the rows in batches of random
// sizes and checks every derived event, rejection and read against the
// rules applied to one in-memory State holding every entrant.
func TestRowsMatchRules(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		for seed := range uint64(12) {
			ctx := context.Background()
			db := openDB(t, engine)
			r := rand.New(rand.NewPCG(seed, 7))
			evs := inputs(randomGame(r)...)

			var want hunt.State
			var wantDerived []proto.Message
			wantRejected := 0
			for _, ev := range evs {
				d, err := want.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
				if err != nil {
					wantRejected++
				}
				wantDerived = append(wantDerived, d...)
			}

			var gotDerived []proto.Message
			refusedOf := make(map[string][]*huntv1.EventRefused) // by player, latest first
			gotRejected := 0
			for rest := evs; len(rest) > 0; {
				n := min(len(rest), 1+r.IntN(20))
				res, err := apply(ctx, db, rest[:n])
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				for _, d := range res.Derived {
					if r, ok := d.Message.(*huntv1.EventRefused); ok { // the app's, not the rules'
						refusedOf[r.GetPlayerId()] = append([]*huntv1.EventRefused{r}, refusedOf[r.GetPlayerId()]...)
					} else {
						gotDerived = append(gotDerived, d.Message)
					}
				}
				gotRejected += len(res.Rejected)
				rest = rest[n:]
			}
			if diff := cmp.Diff(wantDerived, gotDerived, protocmp.Transform()); diff != "" {
				t.Fatalf("seed %d: derived events differ (-rules +rows):\n%s", seed, diff)
			}
			completed := 0
			for _, d := range wantDerived {
				if _, ok := d.(*huntv1.HuntCompleted); ok {
					completed++
				}
			}
			t.Logf("seed %d: %d events, %d rejected, %d derived, %d completions", seed, len(evs), wantRejected, len(wantDerived), completed)
			if gotRejected != wantRejected {
				t.Errorf("seed %d: %d rejected, want %d", seed, gotRejected, wantRejected)
			}

			wantSum, _ := want.Summary("h")
			gotSum, err := readSummary(ctx, db, "h")
			if err != nil || gotSum != wantSum {
				t.Errorf("seed %d: summary %+v, %v; want %+v", seed, gotSum, err, wantSum)
			}
			for i := range 16 {
				p := fmt.Sprintf("p%02d", i)
				wantPr, wantErr := want.Progress("h", p)
				wantRefusals := refusedOf[p][:min(len(refusedOf[p]), maxRefusals)]
				if errors.Is(wantErr, hunt.ErrNotJoined) && len(wantRefusals) > 0 {
					// Kept out, and told why.
					wantPr, wantErr = hunt.Progress{HuntID: "h", PlayerID: p, Clues: 2}, nil
					if reg, ok := want.Players[p]; ok {
						wantPr.DisplayName = reg.DisplayName
					}
				}
				gotPr, gotErr := readProgress(ctx, db, "h", p)
				if errors.Is(wantErr, hunt.ErrNotJoined) != errors.Is(gotErr, hunt.ErrNotJoined) || (wantErr == nil && gotErr != nil) {
					t.Fatalf("seed %d: progress of %s: %v, want %v", seed, p, gotErr, wantErr)
				}
				if diff := cmp.Diff(wantPr, gotPr.Progress); diff != "" {
					t.Errorf("seed %d: progress of %s (-rules +rows):\n%s", seed, p, diff)
				}
				if gotErr == nil {
					if _, err := want.Progress("h", p); gotPr.joined != (err == nil) {
						t.Errorf("seed %d: %s joined = %v, want %v", seed, p, gotPr.joined, err == nil)
					}
					if diff := cmp.Diff(wantRefusals, gotPr.refusals, protocmp.Transform()); diff != "" {
						t.Errorf("seed %d: refusals of %s, the last %d latest first (-derived +rows):\n%s", seed, p, maxRefusals, diff)
					}
				}
				for _, n := range []int{0, 1, 3, 20} {
					wantLb, _ := want.Leaderboard("h", n, p)
					gotLb, err := readLeaderboard(ctx, db, "h", n, p)
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(wantLb, gotLb); diff != "" {
						t.Errorf("seed %d: leaderboard top %d for %s (-rules +rows):\n%s", seed, n, p, diff)
					}
				}
			}
			if _, err := readSummary(ctx, db, "nope"); !errors.Is(err, hunt.ErrUnknownHunt) {
				t.Errorf("summary of an unknown hunt: %v", err)
			}
			if _, err := readProgress(ctx, db, "nope", "p00"); !errors.Is(err, hunt.ErrUnknownHunt) {
				t.Errorf("progress in an unknown hunt: %v", err)
			}
		}
	})
}
