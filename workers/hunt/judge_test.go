package hunt_test

import (
	"testing"
	"time"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// onClue2 has alice join at the start and solve clue 1 after a minute.
func onClue2() []input {
	return seq(created(), joined(alice, 0), solve("a1", alice, 0, minute))
}

func TestVerdicts(t *testing.T) {
	t.Parallel()
	runCases(t, []applyCase{
		{
			name:   "correct: points, score and the next clue",
			before: seq(created(), joined(alice, 0)),
			event:  text("a", alice, clue1, "granite tor", minute),
			want:   msgs(judged("a", alice, clue1, correct, 10, 10, minute), unlocked(alice, 1, minute)),
		},
		{
			name:   "wrong: no points, no clue",
			before: onClue2(),
			event:  position("a", alice, clue2, 0, 0, 2*minute),
			want:   msgs(judged("a", alice, clue2, wrong, 0, 10, 2*minute)),
			check: func(t *testing.T, s *hunt.State) {
				if p := progress(t, s, alice); p.WrongStreak != 1 || p.Position != 1 {
					t.Errorf("Progress = %+v, want wrong streak 1 on clue 2", p)
				}
			},
		},
		{
			name:   "too early: before the start",
			before: seq(created(), joined(alice, -time.Hour)),
			event:  text("a", alice, clue1, "granite tor", -time.Nanosecond),
			want:   msgs(judged("a", alice, clue1, tooEarly, 0, 0, -time.Nanosecond)),
		},
		{
			name:   "at the start is not too early",
			before: seq(created(), joined(alice, -time.Hour)),
			event:  text("a", alice, clue1, "granite tor", 0),
			want:   msgs(judged("a", alice, clue1, correct, 10, 10, 0), unlocked(alice, 1, 0)),
		},
		{
			name:   "too early: before joining",
			before: seq(created(), joined(alice, 10*minute)),
			event:  text("a", alice, clue1, "granite tor", 9*minute),
			want:   msgs(judged("a", alice, clue1, tooEarly, 0, 0, 9*minute)),
		},
		{
			name:   "too late: at the end",
			before: onClue2(),
			event:  position("a", alice, clue2, targetLat, targetLon, 2*time.Hour),
			want:   msgs(judged("a", alice, clue2, tooLate, 0, 10, 2*time.Hour)),
		},
		{
			name:   "just before the end is not too late",
			before: onClue2(),
			event:  position("a", alice, clue2, targetLat, targetLon, 2*time.Hour-time.Nanosecond),
			want: msgs(
				judged("a", alice, clue2, correct, 20, 30, 2*time.Hour-time.Nanosecond),
				unlocked(alice, 2, 2*time.Hour-time.Nanosecond),
			),
		},
		{
			name:   "too late comes before not the current clue",
			before: seq(created(), joined(alice, 0), solveAll(alice, minute, 2*minute, 3*minute)),
			event:  text("a", alice, clue3, "42", 3*time.Hour),
			want:   msgs(judged("a", alice, clue3, tooLate, 0, 60, 3*time.Hour)),
		},
		{
			name:   "not the current clue: a later one",
			before: seq(created(), joined(alice, 0)),
			event:  text("a", alice, clue3, "42", minute),
			want:   msgs(judged("a", alice, clue3, notCurrent, 0, 0, minute)),
		},
		{
			name:   "not the current clue: one already solved",
			before: onClue2(),
			event:  text("a", alice, clue1, "granite tor", 2*minute),
			want:   msgs(judged("a", alice, clue1, notCurrent, 0, 10, 2*minute)),
		},
		{
			name:   "not the current clue: not in the hunt",
			before: seq(created(), joined(alice, 0)),
			event:  text("a", alice, "c9000000-0000-4000-8000-000000000009", "granite tor", minute),
			want:   msgs(judged("a", alice, "c9000000-0000-4000-8000-000000000009", notCurrent, 0, 0, minute)),
		},
		{
			name:   "not the current clue: after completing",
			before: seq(created(), joined(alice, 0), solveAll(alice, minute, 2*minute, 3*minute)),
			event:  text("a", alice, clue3, "42", 4*minute),
			want:   msgs(judged("a", alice, clue3, notCurrent, 0, 60, 4*minute)),
		},
		{
			name:   "not the current clue does not count as wrong",
			before: seq(created(), joined(alice, 0), wrongs(alice, clue1, 2, minute), text("x", alice, clue2, "?", 2*minute)),
			event:  text("a", alice, clue1, "basalt", 2*minute+second),
			want:   msgs(judged("a", alice, clue1, wrong, 0, 0, 2*minute+second)),
			check: func(t *testing.T, s *hunt.State) {
				if got := progress(t, s, alice).WrongStreak; got != 3 {
					t.Errorf("WrongStreak = %d, want 3", got)
				}
			},
		},
		{
			name:    "an unknown hunt",
			before:  seq(created(), joined(alice, 0)),
			event:   input{"a", &huntv1.AnswerSubmitted{HuntId: other, PlayerId: alice, ClueId: clue1, Answer: &huntv1.AnswerSubmitted_Text{Text: "x"}, SubmittedAt: ts(0)}},
			wantErr: hunt.ErrUnknownHunt,
		},
		{
			name:    "a player who has not joined",
			before:  seq(created(), joined(alice, 0)),
			event:   text("a", bob, clue1, "granite tor", minute),
			wantErr: hunt.ErrNotJoined,
		},
		{
			name:    "a registered player who has not joined",
			before:  seq(created(), registered(bob, "Bo", 0)),
			event:   text("a", bob, clue1, "granite tor", minute),
			wantErr: hunt.ErrNotJoined,
		},
		{
			name:    "no event id",
			before:  seq(created(), joined(alice, 0)),
			event:   text("", alice, clue1, "granite tor", minute),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "no clue id",
			before:  seq(created(), joined(alice, 0)),
			event:   text("a", alice, "", "granite tor", minute),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "no answer",
			before:  seq(created(), joined(alice, 0)),
			event:   input{"a", &huntv1.AnswerSubmitted{HuntId: huntID, PlayerId: alice, ClueId: clue1, SubmittedAt: ts(minute)}},
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "an empty position",
			before:  onClue2(),
			event:   input{"a", &huntv1.AnswerSubmitted{HuntId: huntID, PlayerId: alice, ClueId: clue2, Answer: &huntv1.AnswerSubmitted_Position{}, SubmittedAt: ts(2 * minute)}},
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "a position off the globe",
			before:  onClue2(),
			event:   position("a", alice, clue2, targetLat, 181, 2*minute),
			wantErr: hunt.ErrInvalidEvent,
		},
		{
			name:    "no submission time",
			before:  seq(created(), joined(alice, 0)),
			event:   input{"a", &huntv1.AnswerSubmitted{HuntId: huntID, PlayerId: alice, ClueId: clue1, Answer: &huntv1.AnswerSubmitted_Text{Text: "granite tor"}}},
			wantErr: hunt.ErrInvalidEvent,
		},
	})
}

func TestTextAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		answer string
		want   huntv1.Verdict
	}{
		{"Granite Tor", correct},
		{"granite tor", correct},
		{"GRANITE TOR", correct},
		{"  gRaNiTe tOr\t\n", correct},
		{"\u00a0granite tor\u2003", correct}, // Unicode spaces are trimmed too
		{"granite  tor", wrong},              // inner spaces count
		{"granitetor", wrong},
		{"granite tor.", wrong},
		{"granite", wrong},
		{"", wrong},
	}
	var cases []applyCase
	for _, tt := range tests {
		want := msgs(judged("a", alice, clue1, tt.want, 0, 0, minute))
		if tt.want == correct {
			want = msgs(judged("a", alice, clue1, correct, 10, 10, minute), unlocked(alice, 1, minute))
		}
		cases = append(cases, applyCase{
			name:   tt.answer,
			before: seq(created(), joined(alice, 0)),
			event:  text("a", alice, clue1, tt.answer, minute),
			want:   want,
		})
	}
	runCases(t, cases)
}

func TestLocationAnswers(t *testing.T) {
	t.Parallel()
	// deg converts a distance along a meridian to degrees of latitude.
	deg := func(meters float64) float64 { return meters / metersPerDegree }
	// A target at latitude 60, where a degree of longitude is half a degree
	// of latitude; one on the antimeridian; one near the pole.
	north := func(ev *huntv1.HuntCreated) {
		ev.Clues[1].GetTarget().Point = &huntv1.GeoPoint{Latitude: 60, Longitude: 10}
	}
	antimeridian := func(ev *huntv1.HuntCreated) {
		ev.Clues[1].GetTarget().Point = &huntv1.GeoPoint{Latitude: 0, Longitude: 179.9998}
	}
	pole := func(ev *huntv1.HuntCreated) {
		ev.Clues[1].GetTarget().Point = &huntv1.GeoPoint{Latitude: 89.9999, Longitude: 0}
	}
	tests := []struct {
		name     string
		edit     func(*huntv1.HuntCreated)
		lat, lon float64
		want     huntv1.Verdict
	}{
		{"on the target", nil, targetLat, targetLon, correct},
		{"30 m north", nil, targetLat + deg(30), targetLon, correct},
		{"49.9 m south", nil, targetLat - deg(49.9), targetLon, correct},
		{"50.1 m south", nil, targetLat - deg(50.1), targetLon, wrong},
		{"70 m north", nil, targetLat + deg(70), targetLon, wrong},
		{"far away", nil, 51.5074, -0.1278, wrong},
		{"33 m east at latitude 60", north, 60, 10 + deg(66.7), correct},
		{"67 m east at latitude 60", north, 60, 10 + deg(133.4), wrong},
		{"across the antimeridian, 44 m", antimeridian, 0, -179.9998, correct},
		{"across the antimeridian, 67 m", antimeridian, 0, -179.9996, wrong},
		{"across the pole, 22 m", pole, 89.9999, 180, correct},
		{"the other side of the world", nil, -targetLat, targetLon - 180, wrong},
	}
	var cases []applyCase
	for _, tt := range tests {
		want := msgs(judged("a", alice, clue2, tt.want, 0, 10, 2*minute))
		if tt.want == correct {
			want = msgs(judged("a", alice, clue2, correct, 20, 30, 2*minute), unlocked(alice, 2, 2*minute))
		}
		hunt := created()
		if tt.edit != nil {
			hunt = created(tt.edit)
		}
		cases = append(cases, applyCase{
			name:   tt.name,
			before: seq(hunt, joined(alice, 0), solve("a1", alice, 0, minute)),
			event:  position("a", alice, clue2, tt.lat, tt.lon, 2*minute),
			want:   want,
		})
	}
	cases = append(cases,
		applyCase{
			name:   "a text answer to a place",
			before: onClue2(),
			event:  text("a", alice, clue2, "the eiffel tower", 2*minute),
			want:   msgs(judged("a", alice, clue2, wrong, 0, 10, 2*minute)),
		},
		applyCase{
			name:   "a position answer to a text clue",
			before: seq(created(), joined(alice, 0)),
			event:  position("a", alice, clue1, targetLat, targetLon, minute),
			want:   msgs(judged("a", alice, clue1, wrong, 0, 0, minute)),
		},
	)
	runCases(t, cases)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	// Three wrong answers at 1:00, 1:01 and 1:02: answers are judged again
	// from 1:32.
	const last = minute + 2*second
	three := func() []input { return seq(created(), joined(alice, 0), wrongs(alice, clue1, 3, minute)) }
	runCases(t, []applyCase{
		{
			name:   "two wrong answers are no limit",
			before: seq(created(), joined(alice, 0), wrongs(alice, clue1, 2, minute)),
			event:  text("a", alice, clue1, "granite tor", minute+2*second),
			want:   msgs(judged("a", alice, clue1, correct, 10, 10, minute+2*second), unlocked(alice, 1, minute+2*second)),
		},
		{
			name:   "three wrong answers limit even a right one",
			before: three(),
			event:  text("a", alice, clue1, "granite tor", last+second),
			want:   msgs(judged("a", alice, clue1, limited, 0, 0, last+second)),
			check: func(t *testing.T, s *hunt.State) {
				p := progress(t, s, alice)
				if p.WrongStreak != hunt.WrongAnswerLimit || !p.RetryAt.Equal(start.Add(last+hunt.Cooldown)) {
					t.Errorf("Progress = %+v, want streak %d, retry at %v", p, hunt.WrongAnswerLimit, start.Add(last+hunt.Cooldown))
				}
			},
		},
		{
			name:   "a nanosecond before the cooldown ends",
			before: three(),
			event:  text("a", alice, clue1, "granite tor", last+hunt.Cooldown-time.Nanosecond),
			want:   msgs(judged("a", alice, clue1, limited, 0, 0, last+hunt.Cooldown-time.Nanosecond)),
		},
		{
			name:   "the cooldown over, a right answer scores",
			before: three(),
			event:  text("a", alice, clue1, "granite tor", last+hunt.Cooldown),
			want:   msgs(judged("a", alice, clue1, correct, 10, 10, last+hunt.Cooldown), unlocked(alice, 1, last+hunt.Cooldown)),
			check: func(t *testing.T, s *hunt.State) {
				if p := progress(t, s, alice); p.WrongStreak != 0 || !p.RetryAt.IsZero() {
					t.Errorf("Progress = %+v, want no streak and no retry time", p)
				}
			},
		},
		{
			name:   "rate-limited answers do not extend the wait",
			before: seq(three(), text("l", alice, clue1, "granite tor", last+20*second)),
			event:  text("a", alice, clue1, "granite tor", last+hunt.Cooldown),
			want:   msgs(judged("a", alice, clue1, correct, 10, 10, last+hunt.Cooldown), unlocked(alice, 1, last+hunt.Cooldown)),
		},
		{
			name:   "a wrong answer after the cooldown starts another",
			before: seq(three(), text("w", alice, clue1, "basalt", last+hunt.Cooldown)),
			event:  text("a", alice, clue1, "granite tor", last+hunt.Cooldown+second),
			want:   msgs(judged("a", alice, clue1, limited, 0, 0, last+hunt.Cooldown+second)),
			check: func(t *testing.T, s *hunt.State) {
				if p := progress(t, s, alice); p.WrongStreak != 4 || !p.RetryAt.Equal(start.Add(last+2*hunt.Cooldown)) {
					t.Errorf("Progress = %+v, want streak 4, retry at %v", p, start.Add(last+2*hunt.Cooldown))
				}
			},
		},
		{
			name:   "a right answer resets the streak",
			before: seq(created(), joined(alice, 0), wrongs(alice, clue1, 2, minute), solve("s", alice, 0, minute+2*second), position("w", alice, clue2, 0, 0, minute+3*second)),
			event:  position("a", alice, clue2, 0, 0, minute+4*second),
			want:   msgs(judged("a", alice, clue2, wrong, 0, 10, minute+4*second)),
		},
		{
			name:   "not the current clue comes before the limit",
			before: three(),
			event:  text("a", alice, clue3, "42", last+second),
			want:   msgs(judged("a", alice, clue3, notCurrent, 0, 0, last+second)),
		},
		{
			name:   "too late comes before the limit",
			before: three(),
			event:  text("a", alice, clue1, "granite tor", 2*time.Hour),
			want:   msgs(judged("a", alice, clue1, tooLate, 0, 0, 2*time.Hour)),
		},
		{
			name:   "the limit is per player",
			before: seq(three(), joined(bob, 0)),
			event:  text("a", bob, clue1, "granite tor", last+second),
			want:   msgs(judged("a", bob, clue1, correct, 10, 10, last+second), unlocked(bob, 1, last+second)),
		},
	})
}
