package hunt_test

import (
	"testing"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

func TestHuntCompleted(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name:   "the last clue completes the hunt",
			before: seq(created(), joined(alice, 0), solveAll(alice, 10*minute, 20*minute)),
			event:  solve("a", alice, 2, 30*minute),
			want: msgs(
				judged("a", alice, clue3, correct, 30, 60, 30*minute),
				completed(alice, 60, 1, 30*minute, 30*minute),
			),
			check: func(t *testing.T, s *hunt.State) {
				p := progress(t, s, alice)
				if !p.Completed || !p.CompletedAt.Equal(start.Add(30*minute)) || p.Position != 3 || p.ClueID != "" {
					t.Errorf("Progress = %+v, want completed at 0:30 past the last clue", p)
				}
			},
		},
		{
			name: "the second to finish ranks second",
			before: seq(created(),
				joined(alice, 0), joined(bob, 5*minute),
				solveAll(alice, 10*minute, 20*minute, 30*minute),
				solveAll(bob, 15*minute, 25*minute),
			),
			event: solve("b", bob, 2, 35*minute),
			want: msgs(
				judged("b", bob, clue3, correct, 30, 60, 35*minute),
				completed(bob, 60, 2, 30*minute, 35*minute),
			),
		},
		{
			name: "the first to finish ranks first, ahead of players still playing",
			before: seq(created(),
				joined(bob, 0), joined(carol, 0), joined(alice, 5*minute),
				solveAll(bob, minute, 2*minute), solveAll(carol, minute),
				solveAll(alice, 10*minute, 20*minute),
			),
			event: solve("a", alice, 2, 30*minute),
			want: msgs(
				judged("a", alice, clue3, correct, 30, 60, 30*minute),
				completed(alice, 60, 1, 25*minute, 30*minute),
			),
		},
		{
			name: "finishing at the same time as another ranks by player id",
			before: seq(created(),
				joined(alice, 0), joined(bob, 0),
				solveAll(bob, 10*minute, 20*minute, 30*minute),
				solveAll(alice, 10*minute, 20*minute),
			),
			event: solve("a", alice, 2, 30*minute),
			want: msgs(
				judged("a", alice, clue3, correct, 30, 60, 30*minute),
				completed(alice, 60, 1, 30*minute, 30*minute),
			),
		},
		{
			name:   "joined before the start: elapsed runs from joining",
			before: seq(created(), joined(alice, -10*minute), solveAll(alice, 10*minute, 20*minute)),
			event:  solve("a", alice, 2, 30*minute),
			want: msgs(
				judged("a", alice, clue3, correct, 30, 60, 30*minute),
				completed(alice, 60, 1, 40*minute, 30*minute),
			),
		},
		{
			name:   "a one-clue hunt completes on the first answer",
			before: seq(created(func(ev *huntv1.HuntCreated) { ev.Clues = ev.Clues[:1] }), joined(alice, 0)),
			event:  solve("a", alice, 0, 90*second),
			want: msgs(
				judged("a", alice, clue1, correct, 10, 10, 90*second),
				completed(alice, 10, 1, 90*second, 90*second),
			),
		},
	})
}
