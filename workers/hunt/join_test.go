package hunt_test

import (
	"testing"
	"time"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

func TestPlayerJoinedHunt(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name:   "before the start the first clue unlocks at the start",
			before: seq(created()),
			event:  joined(alice, -10*time.Minute),
			want:   msgs(unlocked(alice, 0, 0)),
		},
		{
			name:   "after the start the first clue unlocks on joining",
			before: seq(created()),
			event:  joined(alice, 5*time.Minute),
			want:   msgs(unlocked(alice, 0, 5*time.Minute)),
		},
		{
			name:   "just before the end",
			before: seq(created()),
			event:  joined(alice, 2*time.Hour-time.Nanosecond),
			want:   msgs(unlocked(alice, 0, 2*time.Hour-time.Nanosecond)),
		},
		{
			name:    "at the end",
			before:  seq(created()),
			event:   joined(alice, 2*time.Hour),
			wantErr: hunt.ErrHuntEnded,
		},
		{
			name:    "after the end",
			before:  seq(created()),
			event:   joined(alice, 3*time.Hour),
			wantErr: hunt.ErrHuntEnded,
		},
		{
			name:   "joining twice is a no-op and keeps the progress",
			before: seq(created(), joined(alice, 0), solve("a1", alice, 0, time.Minute)),
			event:  joined(alice, 2*time.Minute),
			check: func(t *testing.T, s *hunt.State) {
				p := progress(t, s, alice)
				if p.Position != 1 || p.Score != 10 || !p.JoinedAt.Equal(start) {
					t.Errorf("Progress = %+v, want position 1, score 10, joined at the start", p)
				}
			},
		},
		{
			name:   "joining twice after the end is a no-op",
			before: seq(created(), joined(alice, 0)),
			event:  joined(alice, 3*time.Hour),
		},
		{
			name:   "joining twice when the hunt is full is a no-op",
			before: seq(created(maxPlayers(1)), joined(alice, 0)),
			event:  joined(alice, time.Minute),
		},
		{
			name:   "below the cap",
			before: seq(created(maxPlayers(2)), joined(alice, 0)),
			event:  joined(bob, time.Minute),
			want:   msgs(unlocked(bob, 0, time.Minute)),
		},
		{
			name:    "cap reached",
			before:  seq(created(maxPlayers(2)), joined(alice, 0), joined(bob, time.Minute)),
			event:   joined(carol, 2*time.Minute),
			wantErr: hunt.ErrHuntFull,
		},
		{
			name:   "no cap",
			before: seq(created(maxPlayers(0)), joined(alice, 0), joined(bob, 0), joined(carol, 0), joined(dave, 0)),
			event:  joined(erin, 0),
			want:   msgs(unlocked(erin, 0, 0)),
		},
		{
			name:   "an unregistered player joins without a name",
			before: seq(created(), registered(bob, "Bo", 0)),
			event:  joined(alice, 0),
			want:   msgs(unlocked(alice, 0, 0)),
			check: func(t *testing.T, s *hunt.State) {
				if got := progress(t, s, alice).DisplayName; got != "" {
					t.Errorf("Progress.DisplayName = %q, want empty", got)
				}
			},
		},
		{
			name:    "an unknown hunt",
			before:  seq(created()),
			event:   input{"j", &huntv1.PlayerJoinedHunt{HuntId: other, PlayerId: alice, JoinedAt: ts(0)}},
			wantErr: hunt.ErrUnknownHunt,
		},
		{
			name:    "no hunt id",
			before:  seq(created()),
			event:   input{"j", &huntv1.PlayerJoinedHunt{PlayerId: alice, JoinedAt: ts(0)}},
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "no player id",
			before:  seq(created()),
			event:   joined("", 0),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "no join time",
			before:  seq(created()),
			event:   input{"j", &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: alice}},
			wantErr: hunt.ErrInvalidEvent,
		},
	})
}
