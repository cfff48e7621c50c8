package hunt_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// The fixture: one hunt of three clues (a text answer, a place, a text
// answer) from start to end, and a few players.
const (
	huntID = "4a1e5c00-0000-4000-8000-000000000001"
	other  = "4a1e5c00-0000-4000-8000-000000000002"
	clue1  = "c1000000-0000-4000-8000-000000000001"
	clue2  = "c2000000-0000-4000-8000-000000000002"
	clue3  = "c3000000-0000-4000-8000-000000000003"
	alice  = "a1000000-0000-4000-8000-00000000000a"
	bob    = "b0000000-0000-4000-8000-00000000000b"
	carol  = "ca000000-0000-4000-8000-00000000000c"
	dave   = "da000000-0000-4000-8000-00000000000d"
	erin   = "e0000000-0000-4000-8000-00000000000e"
)

// Where clue 2's target is, and how close a player must come.
const (
	targetLat    = 48.85837
	targetLon    = 2.29448
	targetRadius = 50.0
)

// metersPerDegree is the length of a degree of latitude on the sphere the
// package measures on.
const metersPerDegree = 111_195.08

var (
	start = time.Date(2026, 6, 1, 10, 0, 0, 0, time.UTC)
	end   = start.Add(2 * time.Hour)
)

const (
	correct    = huntv1.Verdict_VERDICT_CORRECT
	wrong      = huntv1.Verdict_VERDICT_WRONG
	tooEarly   = huntv1.Verdict_VERDICT_TOO_EARLY
	tooLate    = huntv1.Verdict_VERDICT_TOO_LATE
	notCurrent = huntv1.Verdict_VERDICT_NOT_CURRENT_CLUE
	limited    = huntv1.Verdict_VERDICT_RATE_LIMITED
)

const (
	minute = time.Minute
	second = time.Second
	hour   = time.Hour
)

// ts is the timestamp d after the hunt's start.
func ts(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(start.Add(d)) }

// input is an event with its id, as a consumer would hand it to Apply.
type input struct {
	id string
	ev proto.Message
}

// fixtureClues returns the fixture's clues, fresh for each caller.
func fixtureClues() []*huntv1.Clue {
	return []*huntv1.Clue{
		{
			ClueId:   clue1,
			Text:     "What stone is the tor made of?",
			Points:   10,
			Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: hunt.AnswerSHA256("Granite Tor")},
		},
		{
			ClueId: clue2,
			Text:   "Stand under the iron lady.",
			Points: 20,
			Solution: &huntv1.Clue_Target{Target: &huntv1.GeoTarget{
				Point:        &huntv1.GeoPoint{Latitude: targetLat, Longitude: targetLon},
				RadiusMeters: targetRadius,
			}},
		},
		{
			ClueId:   clue3,
			Text:     "The answer to everything?",
			Points:   30,
			Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: hunt.AnswerSHA256("42")},
		},
	}
}

// created is the fixture's HuntCreated, changed by edits.
func created(edits ...func(*huntv1.HuntCreated)) input {
	ev := &huntv1.HuntCreated{
		HuntId:   huntID,
		Title:    "Tors and towers",
		Clues:    fixtureClues(),
		StartsAt: ts(0),
		EndsAt:   timestamppb.New(end),
	}
	for _, edit := range edits {
		edit(ev)
	}
	return input{"created-" + ev.GetHuntId(), ev}
}

func maxPlayers(n uint32) func(*huntv1.HuntCreated) {
	return func(ev *huntv1.HuntCreated) { ev.MaxPlayers = n }
}

func registered(player, name string, d time.Duration) input {
	return input{"registered-" + player + "-" + name, &huntv1.PlayerRegistered{
		PlayerId:     player,
		DisplayName:  name,
		RegisteredAt: ts(d),
	}}
}

func joined(player string, d time.Duration) input {
	return input{fmt.Sprintf("joined-%s-%v", player, d), &huntv1.PlayerJoinedHunt{
		HuntId:   huntID,
		PlayerId: player,
		JoinedAt: ts(d),
	}}
}

func text(id, player, clue, answer string, d time.Duration) input {
	return input{id, &huntv1.AnswerSubmitted{
		HuntId:      huntID,
		PlayerId:    player,
		ClueId:      clue,
		Answer:      &huntv1.AnswerSubmitted_Text{Text: answer},
		SubmittedAt: ts(d),
	}}
}

func position(id, player, clue string, lat, lon float64, d time.Duration) input {
	return input{id, &huntv1.AnswerSubmitted{
		HuntId:      huntID,
		PlayerId:    player,
		ClueId:      clue,
		Answer:      &huntv1.AnswerSubmitted_Position{Position: &huntv1.GeoPoint{Latitude: lat, Longitude: lon}},
		SubmittedAt: ts(d),
	}}
}

// solve is the right answer to the fixture's clue at pos.
func solve(id, player string, pos int, d time.Duration) input {
	switch pos {
	case 0:
		return text(id, player, clue1, "granite tor", d)
	case 1:
		return position(id, player, clue2, targetLat, targetLon, d)
	default:
		return text(id, player, clue3, "42", d)
	}
}

// solveAll answers the fixture's clues in order, the i-th at times[i].
func solveAll(player string, times ...time.Duration) []input {
	var in []input
	for pos, d := range times {
		in = append(in, solve(fmt.Sprintf("solve-%s-%d", player, pos), player, pos, d))
	}
	return in
}

// wrongs is n wrong answers to a clue, one a second from d.
func wrongs(player, clue string, n int, d time.Duration) []input {
	var in []input
	for i := range n {
		in = append(in, text(fmt.Sprintf("wrong-%s-%v-%d", player, d, i), player, clue, "basalt", d+time.Duration(i)*time.Second))
	}
	return in
}

// seq joins event lists.
func seq(parts ...any) []input {
	var in []input
	for _, p := range parts {
		switch p := p.(type) {
		case input:
			in = append(in, p)
		case []input:
			in = append(in, p...)
		}
	}
	return in
}

func msgs(m ...proto.Message) []proto.Message { return m }

func judged(answerID, player, clue string, v huntv1.Verdict, points, score uint32, d time.Duration) *huntv1.AnswerJudged {
	return &huntv1.AnswerJudged{
		HuntId:        huntID,
		PlayerId:      player,
		ClueId:        clue,
		AnswerEventId: answerID,
		Verdict:       v,
		PointsAwarded: points,
		Score:         score,
		JudgedAt:      ts(d),
	}
}

func unlocked(player string, pos int, d time.Duration) *huntv1.ClueUnlocked {
	c := fixtureClues()[pos]
	return &huntv1.ClueUnlocked{
		HuntId:     huntID,
		PlayerId:   player,
		ClueId:     c.GetClueId(),
		Position:   uint32(pos),
		Text:       c.GetText(),
		Points:     c.GetPoints(),
		UnlockedAt: ts(d),
	}
}

func completed(player string, score, rank uint32, elapsed, d time.Duration) *huntv1.HuntCompleted {
	return &huntv1.HuntCompleted{
		HuntId:      huntID,
		PlayerId:    player,
		Score:       score,
		Rank:        rank,
		Elapsed:     durationpb.New(elapsed),
		CompletedAt: ts(d),
	}
}

// play applies events to an empty state and fails the test on any error.
func play(t *testing.T, events ...input) *hunt.State {
	t.Helper()
	var s hunt.State
	for _, in := range events {
		if _, err := s.Apply(in.id, in.receivedAt(), in.ev); err != nil {
			t.Fatalf("setup: Apply(%q): %v", in.id, err)
		}
	}
	return &s
}

func marshal(t *testing.T, s *hunt.State) []byte {
	t.Helper()
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatalf("marshal state: %v", err)
	}
	return b
}

// applyCase applies event after the events before and expects the derived
// events want, or an error wrapping wantErr that leaves the state unchanged.
type applyCase struct {
	name    string
	before  []input
	event   input
	want    []proto.Message
	wantErr error
	// check, if set, looks at the state afterwards.
	check func(t *testing.T, s *hunt.State)
}

func runCases(t *testing.T, cases []applyCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := play(t, tc.before...)
			before := marshal(t, s)
			got, err := s.Apply(tc.event.id, tc.event.receivedAt(), tc.event.ev)
			if tc.wantErr != nil {
				var rejected *hunt.RejectedError
				switch {
				case !errors.Is(err, tc.wantErr):
					t.Fatalf("Apply: error %v, want %v", err, tc.wantErr)
				case !errors.As(err, &rejected):
					t.Fatalf("Apply: error %T is not a *hunt.RejectedError", err)
				case rejected.EventID != tc.event.id:
					t.Errorf("RejectedError.EventID = %q, want %q", rejected.EventID, tc.event.id)
				}
				if after := marshal(t, s); !bytes.Equal(before, after) {
					t.Errorf("rejected event changed the state:\nbefore %s\nafter  %s", before, after)
				}
			} else if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("derived events (-want +got):\n%s", diff)
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// progress returns a player's progress in the fixture hunt.
func progress(t *testing.T, s *hunt.State, player string) hunt.Progress {
	t.Helper()
	p, err := s.Progress(huntID, player)
	if err != nil {
		t.Fatalf("Progress(%s): %v", player, err)
	}
	return p
}

// receivedAt is when the fixture's gateway received in: the time it
// claims, as with a client whose clock agrees with the gateway's. Tests of
// clocks that disagree pass the receive time to Apply themselves.
func (in input) receivedAt() time.Time {
	switch ev := in.ev.(type) {
	case *huntv1.PlayerJoinedHunt:
		return ev.GetJoinedAt().AsTime()
	case *huntv1.AnswerSubmitted:
		return ev.GetSubmittedAt().AsTime()
	case *huntv1.PlayerRegistered:
		return ev.GetRegisteredAt().AsTime()
	}
	return start
}
