package hunt_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cairnhq/cairn/workers/hunt"
)

const frank = "f0000000-0000-4000-8000-00000000000f"

// board is a hunt in which bob finished before alice, erin is on the last
// clue, carol and dave solved one clue (dave first) and frank none. Only
// alice, bob and dave registered.
func board(t *testing.T) *hunt.State {
	return play(t, seq(
		created(),
		registered(alice, "Ada", -hour), registered(bob, "Bo", -hour), registered(dave, "Dee", -hour),
		joined(alice, 0), joined(bob, 0), joined(carol, 0), joined(dave, 0), joined(erin, 0), joined(frank, 0),
		solveAll(dave, minute),
		solveAll(carol, 2*minute),
		solveAll(erin, minute, 2*minute),
		solveAll(alice, 10*minute, 20*minute, 40*minute),
		solveAll(bob, 10*minute, 20*minute, 30*minute),
	)...)
}

func TestLeaderboard(t *testing.T) {
	t.Parallel()
	// The order: score first; among equal scores, the earlier finish; among
	// those still playing, the player id (carol before dave, though dave
	// scored first).
	standings := []hunt.Standing{
		{Rank: 1, PlayerID: bob, DisplayName: "Bo", Score: 60, Completed: true, CompletedAt: start.Add(30 * time.Minute)},
		{Rank: 2, PlayerID: alice, DisplayName: "Ada", Score: 60, Completed: true, CompletedAt: start.Add(40 * time.Minute)},
		{Rank: 3, PlayerID: erin, Score: 30},
		{Rank: 4, PlayerID: carol, Score: 10},
		{Rank: 5, PlayerID: dave, DisplayName: "Dee", Score: 10},
		{Rank: 6, PlayerID: frank},
	}
	own := func(i int) *hunt.Standing { return &standings[i] }
	tests := []struct {
		name   string
		n      int
		player string
		want   hunt.Leaderboard
	}{
		{"top three and my own", 3, carol, hunt.Leaderboard{HuntID: huntID, Top: standings[:3], Own: own(3), Players: 6}},
		{"everyone", 10, "", hunt.Leaderboard{HuntID: huntID, Top: standings, Players: 6}},
		{"exactly everyone", 6, frank, hunt.Leaderboard{HuntID: huntID, Top: standings, Own: own(5), Players: 6}},
		{"only my own", 0, alice, hunt.Leaderboard{HuntID: huntID, Own: own(1), Players: 6}},
		{"a negative count", -1, bob, hunt.Leaderboard{HuntID: huntID, Own: own(0), Players: 6}},
		{"a player not in the hunt", 1, other, hunt.Leaderboard{HuntID: huntID, Top: standings[:1], Players: 6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := board(t).Leaderboard(huntID, tt.n, tt.player)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Leaderboard(%d, %q) (-want +got):\n%s", tt.n, tt.player, diff)
			}
		})
	}
}

func TestLeaderboardOfAnEmptyHunt(t *testing.T) {
	t.Parallel()
	got, err := play(t, created()).Leaderboard(huntID, 10, alice)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(hunt.Leaderboard{HuntID: huntID}, got); diff != "" {
		t.Errorf("Leaderboard (-want +got):\n%s", diff)
	}
}
