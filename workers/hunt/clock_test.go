package hunt_test

import (
	"fmt"
	"testing"
	"time"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// apply applies in as received at at, failing the test on a refusal.
func apply(t *testing.T, s *hunt.State, in input, at time.Time) []*huntv1.AnswerJudged {
	t.Helper()
	derived, err := s.Apply(in.id, at, in.ev)
	if err != nil {
		t.Fatalf("Apply(%s): %v", in.id, err)
	}
	var judged []*huntv1.AnswerJudged
	for _, d := range derived {
		if j, ok := d.(*huntv1.AnswerJudged); ok {
			judged = append(judged, j)
		}
	}
	return judged
}

// TestClaimedTimesDoNotRateLimit (issue 9, item 2): a player who joins
// stamped now−4m50s and sends 20 wrong answers stamped 31 s apart within
// one real second is rate limited after the third.
func TestClaimedTimesDoNotRateLimit(t *testing.T) {
	t.Parallel()
	s := new(hunt.State)
	now := start.Add(30 * minute)
	apply(t, s, created(), start.Add(-hour))
	claimedJoin := now.Add(-4*minute - 50*second)
	apply(t, s, joined(alice, claimedJoin.Sub(start)), now)
	var verdicts []huntv1.Verdict
	for i := range 20 {
		claimed := claimedJoin.Add(time.Duration(i+1) * 31 * second).Sub(start)
		in := text(fmt.Sprintf("spam-%d", i), alice, clue1, "basalt", claimed)
		for _, j := range apply(t, s, in, now.Add(time.Duration(i+1)*40*time.Millisecond)) {
			verdicts = append(verdicts, j.GetVerdict())
		}
	}
	for i, v := range verdicts {
		want := limited
		if i < hunt.WrongAnswerLimit {
			want = wrong
		}
		if v != want {
			t.Errorf("answer %d: verdict %v, want %v", i, v, want)
		}
	}
	if len(verdicts) != 20 {
		t.Errorf("%d answers judged, want 20", len(verdicts))
	}
}

// TestClaimedTimesDoNotRank (issue 9, item 2): a player who finished
// second by the gateway's clock cannot rank first by stamping answers
// 4m40s early; the elapsed time is the gateway's too.
func TestClaimedTimesDoNotRank(t *testing.T) {
	t.Parallel()
	s := new(hunt.State)
	apply(t, s, created(), start)
	joinAt := start.Add(10 * minute)
	apply(t, s, joined(alice, 10*minute), joinAt)
	apply(t, s, joined(bob, 10*minute), joinAt)
	// Alice solves each clue at +1, +2, +3 minutes, honestly stamped.
	for pos, in := range solveAll(alice, 11*minute, 12*minute, 13*minute) {
		apply(t, s, in, start.Add(time.Duration(11+pos)*minute))
	}
	// Bob solves each 10 s after alice, stamping 4m40s early.
	var done *huntv1.HuntCompleted
	for pos, in := range solveAll(bob, 11*minute-280*second, 12*minute-280*second, 13*minute-280*second) {
		derived, err := s.Apply(in.id, start.Add(time.Duration(11+pos)*minute+10*second), in.ev)
		if err != nil {
			t.Fatalf("Apply(%s): %v", in.id, err)
		}
		for _, d := range derived {
			if c, ok := d.(*huntv1.HuntCompleted); ok {
				done = c
			}
		}
	}
	if done == nil {
		t.Fatal("bob did not complete the hunt")
	}
	if done.GetRank() != 2 || done.GetElapsed().AsDuration() != 3*minute+10*second {
		t.Errorf("bob completed with rank %d in %v, want rank 2 in 3m10s", done.GetRank(), done.GetElapsed().AsDuration())
	}
	lb, err := s.Leaderboard(huntID, 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(lb.Top) != 2 || lb.Top[0].PlayerID != alice || lb.Top[1].PlayerID != bob {
		t.Fatalf("leaderboard %+v, want alice then bob", lb.Top)
	}
	if want := start.Add(13*minute + 10*second); !lb.Top[1].CompletedAt.Equal(want) {
		t.Errorf("bob completed at %v, want %v (the gateway's clock)", lb.Top[1].CompletedAt, want)
	}
}
