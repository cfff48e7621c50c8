package hunt_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cairnhq/cairn/workers/hunt"
)

func TestSummary(t *testing.T) {
	t.Parallel()
	got, err := board(t).Summary(huntID)
	if err != nil {
		t.Fatal(err)
	}
	want := hunt.Summary{
		HuntID: huntID, Title: "Tors and towers", Clues: 3, Points: 60,
		StartsAt: start, EndsAt: end, Players: 6, Completed: 2,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Summary (-want +got):\n%s", diff)
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	s := play(t, seq(
		created(),
		registered(alice, "Ada", -hour),
		joined(alice, -time.Minute), joined(bob, 0), joined(carol, 0),
		solveAll(alice, minute, 2*minute, 3*minute),
		solveAll(bob, minute),
		wrongs(bob, clue2, 3, 2*minute),
	)...)
	tests := []struct {
		name   string
		player string
		want   hunt.Progress
	}{
		{"completed", alice, hunt.Progress{
			HuntID: huntID, PlayerID: alice, DisplayName: "Ada", JoinedAt: start.Add(-time.Minute),
			Position: 3, Clues: 3, Score: 60, Completed: true, CompletedAt: start.Add(3 * minute),
		}},
		{"rate limited on the second clue", bob, hunt.Progress{
			HuntID: huntID, PlayerID: bob, JoinedAt: start,
			Position: 1, Clues: 3, ClueID: clue2, ClueText: "Stand under the iron lady.", CluePoints: 20,
			Score: 10, WrongStreak: 3, RetryAt: start.Add(2*minute + 2*second + hunt.Cooldown),
		}},
		{"on the first clue", carol, hunt.Progress{
			HuntID: huntID, PlayerID: carol, JoinedAt: start,
			Clues: 3, ClueID: clue1, ClueText: "What stone is the tor made of?", CluePoints: 10,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Progress(huntID, tt.player)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Progress (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	t.Parallel()
	s := board(t)
	tests := []struct {
		name string
		read func() error
		want error
	}{
		{"summary of an unknown hunt", func() error { _, err := s.Summary(other); return err }, hunt.ErrUnknownHunt},
		{"progress in an unknown hunt", func() error { _, err := s.Progress(other, alice); return err }, hunt.ErrUnknownHunt},
		{"progress of a player not in the hunt", func() error { _, err := s.Progress(huntID, other); return err }, hunt.ErrNotJoined},
		{"leaderboard of an unknown hunt", func() error { _, err := s.Leaderboard(other, 1, alice); return err }, hunt.ErrUnknownHunt},
		{"reads of an empty state", func() error { _, err := new(hunt.State).Summary(huntID); return err }, hunt.ErrUnknownHunt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.read(); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}
