package hunt

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// The rate limit on wrong answers. Constants: safe for concurrent use.
const (
	// WrongAnswerLimit is how many wrong answers in a row bring the rate
	// limit into force.
	WrongAnswerLimit = 3
	// Cooldown is how long after the latest wrong answer, measured on the
	// gateway's receive times, a rate-limited player must wait before the next answer
	// is judged.
	Cooldown = 30 * time.Second
)

// answer judges an AnswerSubmitted the gateway received at at. A correct answer scores, then unlocks
// the next clue or completes the hunt.
func (s *State) answer(eventID string, at time.Time, ev *huntv1.AnswerSubmitted) ([]proto.Message, error) {
	var f fields
	f.id("event id", eventID)
	f.id("hunt_id", ev.GetHuntId())
	f.id("player_id", ev.GetPlayerId())
	f.id("clue_id", ev.GetClueId())
	f.time("submitted_at", ev.GetSubmittedAt()) // the client's claim: information only
	switch a := ev.GetAnswer().(type) {
	case *huntv1.AnswerSubmitted_Text:
	case *huntv1.AnswerSubmitted_Position:
		p := a.Position
		f.check(p != nil && validPoint(p.GetLatitude(), p.GetLongitude()), "position is missing or off the globe")
	default:
		f.check(false, "no answer")
	}
	if f.problem != "" {
		return nil, reject(eventID, ev, ErrInvalidEvent, "%s", f.problem)
	}
	h, ok := s.Hunts[ev.GetHuntId()]
	if !ok {
		return nil, reject(eventID, ev, ErrUnknownHunt, "hunt %q", ev.GetHuntId())
	}
	e, ok := h.Entrants[ev.GetPlayerId()]
	if !ok {
		return nil, reject(eventID, ev, ErrNotJoined, "player %q, hunt %q", ev.GetPlayerId(), h.ID)
	}

	verdict := h.verdict(e, ev, at)
	var points uint32
	switch verdict {
	case huntv1.Verdict_VERDICT_WRONG:
		e.WrongStreak++
		e.LastWrongAt = at
	case huntv1.Verdict_VERDICT_CORRECT:
		c, _ := h.current(e) // verdict checked that e is on a clue
		points = c.Points
		e.Score += points
		e.Position++
		e.WrongStreak = 0
		e.LastWrongAt = time.Time{}
		if h.completed(e) {
			e.CompletedAt = at
			h.Finished++
		}
	}
	derived := []proto.Message{&huntv1.AnswerJudged{
		HuntId:        h.ID,
		PlayerId:      e.PlayerID,
		ClueId:        ev.GetClueId(),
		AnswerEventId: eventID,
		Verdict:       verdict,
		PointsAwarded: points,
		Score:         e.Score,
		JudgedAt:      timestamppb.New(at),
	}}
	if verdict != huntv1.Verdict_VERDICT_CORRECT {
		return derived, nil
	}
	if u := h.unlocked(e, at); u != nil {
		return append(derived, u), nil
	}
	return append(derived, &huntv1.HuntCompleted{
		HuntId:      h.ID,
		PlayerId:    e.PlayerID,
		Score:       e.Score,
		Rank:        uint32(s.rank(h, e)),
		Elapsed:     durationpb.New(at.Sub(e.JoinedAt)),
		CompletedAt: timestamppb.New(at),
	}), nil
}

// verdict judges ev, received at at from e, without changing anything. The
// first check that fails decides the verdict.
func (h *Hunt) verdict(e *Entrant, ev *huntv1.AnswerSubmitted, at time.Time) huntv1.Verdict {
	c, onClue := h.current(e)
	switch {
	case at.Before(h.firstUnlock(e)):
		return huntv1.Verdict_VERDICT_TOO_EARLY
	case !at.Before(h.EndsAt):
		return huntv1.Verdict_VERDICT_TOO_LATE
	case !onClue || ev.GetClueId() != c.ID:
		return huntv1.Verdict_VERDICT_NOT_CURRENT_CLUE
	case at.Before(retryAt(e)):
		return huntv1.Verdict_VERDICT_RATE_LIMITED
	case c.solvedBy(ev):
		return huntv1.Verdict_VERDICT_CORRECT
	default:
		return huntv1.Verdict_VERDICT_WRONG
	}
}

// retryAt is the earliest receive time at which e's next answer is judged:
// zero unless e has reached the wrong-answer limit.
func retryAt(e *Entrant) time.Time {
	if e.WrongStreak < WrongAnswerLimit {
		return time.Time{}
	}
	return e.LastWrongAt.Add(Cooldown)
}
