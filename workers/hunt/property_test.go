package hunt_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// seeds is how many random games the property tests play.
const seeds = 300

// game is a random but plausible sequence of events. To keep it plausible,
// the generator plays along on its own State and mostly has players join
// open hunts and answer the clue they are on, right or wrong; now and then
// they answer too early, too late, too often or the wrong clue, clocks
// disagree, registrations come late, and some events cannot apply at all.
type game struct {
	r       *rand.Rand
	clock   time.Time
	events  []input
	guide   hunt.State
	players []string
	hunts   []*huntv1.HuntCreated
	// answers[hunt id][position] is a text clue's answer, "" for a place.
	answers map[string][]string
}

func newGame(seed uint64) []input {
	g := &game{
		r:       rand.New(rand.NewPCG(seed, 0x6361_6972_6e)),
		clock:   start.Add(-5 * time.Minute),
		answers: make(map[string][]string),
	}
	for i := range 2 + g.r.IntN(6) {
		g.players = append(g.players, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
	}
	for i := range 1 + g.r.IntN(3) {
		g.emit(g.hunt(fmt.Sprintf("4a1e5c00-0000-4000-8000-%012d", i)))
	}
	for range 20 + g.r.IntN(150) {
		g.clock = g.clock.Add(time.Duration(g.r.IntN(40_000)) * time.Millisecond)
		at := g.clock
		if g.r.IntN(20) == 0 { // a client whose clock runs behind
			at = at.Add(-time.Duration(g.r.IntN(20)) * time.Second)
		}
		switch k := g.r.IntN(100); {
		case k < 8:
			g.emit(&huntv1.PlayerRegistered{
				PlayerId:     g.pick(g.players),
				DisplayName:  g.pick([]string{"Ada", "Bo", "Cy", "Dee", "Eve"}),
				RegisteredAt: timestamppb.New(at),
			})
		case k < 25:
			g.join(at)
		case k < 96:
			h, player, ok := g.answerer()
			if !ok {
				g.join(at)
				continue
			}
			g.emit(g.answer(h, player, at))
			for g.r.IntN(3) == 0 { // the same player answers again at once
				at = at.Add(time.Duration(g.r.IntN(5000)) * time.Millisecond)
				g.emit(g.answer(h, player, at))
			}
		default:
			g.emit(g.inapplicable(at))
		}
	}
	return g.events
}

func (g *game) join(at time.Time) {
	g.emit(&huntv1.PlayerJoinedHunt{
		HuntId:   pickFrom(g.r, g.hunts).GetHuntId(),
		PlayerId: g.pick(g.players),
		JoinedAt: timestamppb.New(at),
	})
}

func (g *game) emit(ev proto.Message) {
	in := input{fmt.Sprintf("event-%d", len(g.events)), ev}
	g.events = append(g.events, in)
	_, _ = g.guide.Apply(in.id, in.receivedAt(), in.ev)
}

func pickFrom[T any](r *rand.Rand, from []T) T { return from[r.IntN(len(from))] }

func (g *game) pick(from []string) string { return pickFrom(g.r, from) }

// hunt creates a hunt of one to four clues, starting soon.
func (g *game) hunt(id string) *huntv1.HuntCreated {
	starts := start.Add(time.Duration(g.r.IntN(10)) * time.Minute)
	ev := &huntv1.HuntCreated{
		HuntId:   id,
		Title:    "Hunt " + id[len(id)-1:],
		StartsAt: timestamppb.New(starts),
		EndsAt:   timestamppb.New(starts.Add(time.Duration(10+g.r.IntN(50)) * time.Minute)),
	}
	if g.r.IntN(3) == 0 {
		ev.MaxPlayers = uint32(1 + g.r.IntN(len(g.players)))
	}
	for i := range 1 + g.r.IntN(4) {
		c := &huntv1.Clue{
			ClueId: fmt.Sprintf("c0000000-0000-4000-8000-%s%04d", id[len(id)-8:], i),
			Text:   fmt.Sprintf("Clue %d", i),
			Points: uint32(1 + g.r.IntN(50)),
		}
		answer := ""
		if g.r.IntN(2) == 0 {
			answer = fmt.Sprintf("word %d", g.r.IntN(1000))
			c.Solution = &huntv1.Clue_AnswerSha256{AnswerSha256: hunt.AnswerSHA256(answer)}
		} else {
			c.Solution = &huntv1.Clue_Target{Target: &huntv1.GeoTarget{
				Point:        &huntv1.GeoPoint{Latitude: g.r.Float64()*160 - 80, Longitude: g.r.Float64()*360 - 180},
				RadiusMeters: 10 + g.r.Float64()*500,
			}}
		}
		ev.Clues = append(ev.Clues, c)
		g.answers[id] = append(g.answers[id], answer)
	}
	g.hunts = append(g.hunts, ev)
	return ev
}

// answerer picks a hunt and a player to answer in it: mostly one who is
// still playing it, now and then anyone. It reports false when no one is
// playing the hunt it picked.
func (g *game) answerer() (*huntv1.HuntCreated, string, bool) {
	h := pickFrom(g.r, g.hunts)
	from := g.r.IntN(len(g.players))
	if g.r.IntN(10) == 0 {
		return h, g.players[from], true
	}
	for i := range g.players {
		p := g.players[(from+i)%len(g.players)]
		if progress, err := g.guide.Progress(h.GetHuntId(), p); err == nil && !progress.Completed {
			return h, p, true
		}
	}
	return h, "", false
}

// answer is the player's answer, mostly to the clue they are on, right
// more often than not.
func (g *game) answer(h *huntv1.HuntCreated, player string, at time.Time) *huntv1.AnswerSubmitted {
	pos := g.r.IntN(len(h.GetClues()))
	if p, err := g.guide.Progress(h.GetHuntId(), player); err == nil && !p.Completed && g.r.IntN(10) > 0 {
		pos = p.Position
	}
	clue := h.GetClues()[pos]
	ev := &huntv1.AnswerSubmitted{
		HuntId:      h.GetHuntId(),
		PlayerId:    player,
		ClueId:      clue.GetClueId(),
		SubmittedAt: timestamppb.New(at),
	}
	right := g.r.IntN(10) < 6
	if target := clue.GetTarget(); target != nil {
		lat := target.GetPoint().GetLatitude() + g.r.Float64()*target.GetRadiusMeters()/2/metersPerDegree
		if !right {
			lat -= 1 // a degree of latitude away
		}
		ev.Answer = &huntv1.AnswerSubmitted_Position{Position: &huntv1.GeoPoint{Latitude: lat, Longitude: target.GetPoint().GetLongitude()}}
		return ev
	}
	text := g.answers[h.GetHuntId()][pos]
	if !right {
		text = fmt.Sprintf("word %d", 1000+g.r.IntN(1000))
	}
	if g.r.IntN(2) == 0 {
		text = "  " + strings.ToUpper(text) + "\t"
	}
	ev.Answer = &huntv1.AnswerSubmitted_Text{Text: text}
	return ev
}

// inapplicable is an event that Apply must reject.
func (g *game) inapplicable(at time.Time) proto.Message {
	switch g.r.IntN(4) {
	case 0:
		return &huntv1.AnswerSubmitted{
			HuntId: other, PlayerId: g.pick(g.players), ClueId: clue1,
			Answer: &huntv1.AnswerSubmitted_Text{Text: "x"}, SubmittedAt: timestamppb.New(at),
		}
	case 1:
		return &huntv1.PlayerJoinedHunt{HuntId: other, PlayerId: g.pick(g.players), JoinedAt: timestamppb.New(at)}
	case 2:
		again := proto.CloneOf(pickFrom(g.r, g.hunts))
		again.Title = "Again"
		return again
	default:
		return &huntv1.HuntCreated{HuntId: other, Title: "Empty", StartsAt: timestamppb.New(at), EndsAt: timestamppb.New(at.Add(time.Hour))}
	}
}

// outcome is what one Apply returned.
type outcome struct {
	Derived []proto.Message
	Err     string
}

// replay applies events to s. When check is set, it checks along the way
// that rejected events leave the state unchanged and that what Apply
// derives agrees with the read helpers.
func replay(t *testing.T, s *hunt.State, events []input, check bool) []outcome {
	t.Helper()
	var outs []outcome
	for _, in := range events {
		var before []byte
		if check {
			before = marshal(t, s)
		}
		derived, err := s.Apply(in.id, in.receivedAt(), in.ev)
		out := outcome{Derived: derived}
		if err != nil {
			out.Err = err.Error()
			var rejected *hunt.RejectedError
			if !errors.As(err, &rejected) {
				t.Fatalf("Apply(%s): error %T %v is not a *hunt.RejectedError", in.id, err, err)
			}
			if check && !bytes.Equal(before, marshal(t, s)) {
				t.Fatalf("Apply(%s) was rejected (%v) but changed the state", in.id, err)
			}
		}
		if check {
			for _, d := range derived {
				checkDerived(t, s, in, d)
			}
			checkInvariants(t, s)
		}
		outs = append(outs, out)
	}
	return outs
}

// checkDerived checks a derived event against the state it left behind.
func checkDerived(t *testing.T, s *hunt.State, in input, d proto.Message) {
	t.Helper()
	switch d := d.(type) {
	case *huntv1.AnswerJudged:
		p, err := s.Progress(d.GetHuntId(), d.GetPlayerId())
		if err != nil || d.GetAnswerEventId() != in.id || d.GetScore() != p.Score ||
			!d.GetJudgedAt().AsTime().Equal(in.ev.(*huntv1.AnswerSubmitted).GetSubmittedAt().AsTime()) {
			t.Fatalf("%s judged %v, but progress is %+v (%v)", in.id, d, p, err)
		}
	case *huntv1.ClueUnlocked:
		p, err := s.Progress(d.GetHuntId(), d.GetPlayerId())
		if err != nil || int(d.GetPosition()) != p.Position || d.GetClueId() != p.ClueID {
			t.Fatalf("%s unlocked %v, but progress is %+v (%v)", in.id, d, p, err)
		}
	case *huntv1.HuntCompleted:
		lb, err := s.Leaderboard(d.GetHuntId(), 0, d.GetPlayerId())
		if err != nil || lb.Own == nil || int(d.GetRank()) != lb.Own.Rank || d.GetScore() != lb.Own.Score ||
			!lb.Own.Completed || d.GetElapsed().AsDuration() < 0 {
			t.Fatalf("%s completed %v, but the leaderboard says %+v (%v)", in.id, d, lb.Own, err)
		}
	default:
		t.Fatalf("%s derived %T", in.id, d)
	}
}

// checkInvariants checks what must hold of every player in every hunt.
func checkInvariants(t *testing.T, s *hunt.State) {
	t.Helper()
	for id, h := range s.Hunts {
		for pid, e := range h.Entrants {
			var score uint32
			for _, c := range h.Clues[:min(max(e.Position, 0), len(h.Clues))] {
				score += c.Points
			}
			done := e.Position == len(h.Clues)
			switch {
			case pid != e.PlayerID, e.Position < 0, e.Position > len(h.Clues), e.Score != score,
				done == e.CompletedAt.IsZero(), (e.WrongStreak == 0) != e.LastWrongAt.IsZero():
				t.Fatalf("hunt %s: inconsistent player %s: %+v", id, pid, e)
			}
		}
	}
}

// leaderboards returns every hunt's full leaderboard, in hunt id order.
func leaderboards(t *testing.T, s *hunt.State) []hunt.Leaderboard {
	t.Helper()
	var lbs []hunt.Leaderboard
	for _, id := range slices.Sorted(maps.Keys(s.Hunts)) {
		lb, err := s.Leaderboard(id, len(s.Hunts[id].Entrants), "")
		if err != nil {
			t.Fatal(err)
		}
		lbs = append(lbs, lb)
	}
	return lbs
}

func sameOutcomes(a, b []outcome) bool {
	return slices.EqualFunc(a, b, func(a, b outcome) bool {
		return a.Err == b.Err && slices.EqualFunc(a.Derived, b.Derived, proto.Equal)
	})
}

func TestReplayIsDeterministic(t *testing.T) {
	t.Parallel()
	verdicts := make(map[huntv1.Verdict]int)
	var completions, rejections int
	for seed := range uint64(seeds) {
		events := newGame(seed)
		var s1, s2 hunt.State
		out1 := replay(t, &s1, events, seed%4 == 0) // the checks are costly
		out2 := replay(t, &s2, events, false)
		if diff := cmp.Diff(s1, s2); diff != "" {
			t.Fatalf("seed %d: states differ (-first +second):\n%s", seed, diff)
		}
		// cmp with protocmp is slow on thousands of messages: it only
		// explains a difference that proto.Equal has found.
		if !sameOutcomes(out1, out2) {
			t.Fatalf("seed %d: outcomes differ (-first +second):\n%s", seed, cmp.Diff(out1, out2, protocmp.Transform()))
		}
		if !bytes.Equal(marshal(t, &s1), marshal(t, &s2)) {
			t.Fatalf("seed %d: states encode differently", seed)
		}
		if diff := cmp.Diff(leaderboards(t, &s1), leaderboards(t, &s2)); diff != "" {
			t.Fatalf("seed %d: leaderboards differ (-first +second):\n%s", seed, diff)
		}
		for _, out := range out1 {
			if out.Err != "" {
				rejections++
			}
			for _, d := range out.Derived {
				switch d := d.(type) {
				case *huntv1.AnswerJudged:
					verdicts[d.GetVerdict()]++
				case *huntv1.HuntCompleted:
					completions++
				}
			}
		}
	}
	// The games must be plausible enough to reach every rule.
	for v := huntv1.Verdict_VERDICT_CORRECT; v <= huntv1.Verdict_VERDICT_RATE_LIMITED; v++ {
		if verdicts[v] == 0 {
			t.Errorf("no game had a %v answer", v)
		}
	}
	if completions == 0 || rejections == 0 {
		t.Errorf("the games had %d completions and %d rejected events; want some of each", completions, rejections)
	}
	t.Logf("%d games: verdicts %v, %d completions, %d rejected events", seeds, verdicts, completions, rejections)
}
