package hunt_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

func TestHuntCreated(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name:  "a hunt derives nothing and can be read",
			event: created(maxPlayers(5)),
			check: func(t *testing.T, s *hunt.State) {
				got, err := s.Summary(huntID)
				if err != nil {
					t.Fatal(err)
				}
				want := hunt.Summary{
					HuntID: huntID, Title: "Tors and towers", Clues: 3, Points: 60,
					StartsAt: start, EndsAt: end, MaxPlayers: 5,
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("Summary (-want +got):\n%s", diff)
				}
			},
		},
		{
			name:    "a second hunt with the same id",
			before:  seq(created(), joined(alice, 0)),
			event:   created(func(ev *huntv1.HuntCreated) { ev.Title = "Again" }),
			wantErr: hunt.ErrHuntExists,
		},
		{
			name:    "no clues",
			event:   created(func(ev *huntv1.HuntCreated) { ev.Clues = nil }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "a nil clue",
			event:   created(func(ev *huntv1.HuntCreated) { ev.Clues[1] = nil }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "a clue without a solution",
			event:   created(func(ev *huntv1.HuntCreated) { ev.Clues[0].Solution = nil }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name: "an answer hash of the wrong length",
			event: created(func(ev *huntv1.HuntCreated) {
				ev.Clues[0].Solution = &huntv1.Clue_AnswerSha256{AnswerSha256: []byte("granite")}
			}),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "a target without a radius",
			event:   created(func(ev *huntv1.HuntCreated) { ev.Clues[1].GetTarget().RadiusMeters = 0 }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "a target off the globe",
			event:   created(func(ev *huntv1.HuntCreated) { ev.Clues[1].GetTarget().Point.Latitude = 91 }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "two clues with one id",
			event:   created(func(ev *huntv1.HuntCreated) { ev.Clues[2].ClueId = clue1 }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "ends when it starts",
			event:   created(func(ev *huntv1.HuntCreated) { ev.EndsAt = ts(0) }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "no start",
			event:   created(func(ev *huntv1.HuntCreated) { ev.StartsAt = nil }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "an invalid end",
			event:   created(func(ev *huntv1.HuntCreated) { ev.EndsAt = &timestamppb.Timestamp{Nanos: -1} }),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "no hunt id",
			event:   created(func(ev *huntv1.HuntCreated) { ev.HuntId = "" }),
			wantErr: hunt.ErrInvalidEvent,
		},
	})
}

func TestUnsupportedEvents(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name:    "a derived event",
			before:  seq(created()),
			event:   input{"judged", judged("a", alice, clue1, correct, 10, 10, time.Minute)},
			wantErr: hunt.ErrUnsupportedEvent,
		},
		{
			name:    "nil",
			event:   input{"nil", nil},
			wantErr: hunt.ErrUnsupportedEvent,
		},
		{
			name:    "a typed nil answer",
			before:  seq(created(), joined(alice, 0)),
			event:   input{"typed-nil", (*huntv1.AnswerSubmitted)(nil)},
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "a typed nil hunt",
			event:   input{"typed-nil", (*huntv1.HuntCreated)(nil)},
			wantErr: hunt.ErrInvalidEvent,
		},
	})
}

func TestRejectedErrorNamesTheEvent(t *testing.T) {
	t.Parallel()
	var s hunt.State
	in := text("answer-1", alice, clue1, "granite", 0)
	_, err := s.Apply(in.id, in.receivedAt(), in.ev)
	want := `hunt: reject cairn.hunt.v1.AnswerSubmitted "answer-1": unknown hunt: hunt "` + huntID + `"`
	if err == nil || err.Error() != want {
		t.Errorf("Apply error = %v, want %s", err, want)
	}
}
