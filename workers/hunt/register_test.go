package hunt_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

func TestPlayerRegistered(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name:  "a player derives nothing",
			event: registered(alice, "Ada", -time.Hour),
			check: func(t *testing.T, s *hunt.State) {
				want := hunt.Player{ID: alice, DisplayName: "Ada", RegisteredAt: start.Add(-time.Hour)}
				if diff := cmp.Diff(&want, s.Players[alice]); diff != "" {
					t.Errorf("Players[alice] (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:   "registering again renames and keeps the first time",
			before: seq(registered(alice, "Ada", -time.Hour)),
			event:  registered(alice, "Ada L.", 0),
			check: func(t *testing.T, s *hunt.State) {
				want := hunt.Player{ID: alice, DisplayName: "Ada L.", RegisteredAt: start.Add(-time.Hour)}
				if diff := cmp.Diff(&want, s.Players[alice]); diff != "" {
					t.Errorf("Players[alice] (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:   "registering after joining and answering names the player",
			before: seq(created(), joined(alice, 0), solve("a1", alice, 0, time.Minute)),
			event:  registered(alice, "Ada", 2*time.Minute),
			check: func(t *testing.T, s *hunt.State) {
				if got := progress(t, s, alice).DisplayName; got != "Ada" {
					t.Errorf("Progress.DisplayName = %q, want Ada", got)
				}
				lb, err := s.Leaderboard(huntID, 1, "")
				if err != nil {
					t.Fatal(err)
				}
				if len(lb.Top) != 1 || lb.Top[0].DisplayName != "Ada" {
					t.Errorf("Leaderboard.Top = %+v, want Ada first", lb.Top)
				}
			},
		},
		{
			name:    "no player id",
			event:   registered("", "Ada", 0),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "no registration time",
			event:   input{"r", &huntv1.PlayerRegistered{PlayerId: alice, DisplayName: "Ada"}},
			wantErr: hunt.ErrInvalidEvent,
		},
	})
}
