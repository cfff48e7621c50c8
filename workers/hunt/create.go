package hunt

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// create adds a hunt. It checks what the rules rely on, even though the
// gateway validates the schema's rules first: a hunt that could never be
// completed or ordered must not enter the state.
func (s *State) create(eventID string, ev *huntv1.HuntCreated) error {
	var f fields
	f.id("hunt_id", ev.GetHuntId())
	startsAt := f.time("starts_at", ev.GetStartsAt())
	endsAt := f.time("ends_at", ev.GetEndsAt())
	f.check(endsAt.After(startsAt), "ends_at %v is not after starts_at %v", endsAt, startsAt)
	f.check(len(ev.GetClues()) > 0, "no clues")
	clues := make([]Clue, len(ev.GetClues()))
	seen := make(map[string]bool, len(clues))
	var total uint64
	for i, c := range ev.GetClues() {
		clues[i] = newClue(&f, i, c)
		f.check(!seen[c.GetClueId()], "clue %d: clue_id %q repeats an earlier clue", i, c.GetClueId())
		seen[c.GetClueId()] = true
		total += uint64(c.GetPoints())
	}
	f.check(total <= math.MaxUint32, "clues are worth %d points, more than a score holds", total)
	if f.problem != "" {
		return reject(eventID, ev, ErrInvalidEvent, "%s", f.problem)
	}
	if _, ok := s.Hunts[ev.GetHuntId()]; ok {
		return reject(eventID, ev, ErrHuntExists, "hunt %q", ev.GetHuntId())
	}
	if s.Hunts == nil {
		s.Hunts = make(map[string]*Hunt)
	}
	s.Hunts[ev.GetHuntId()] = &Hunt{
		ID:         ev.GetHuntId(),
		Title:      ev.GetTitle(),
		Clues:      clues,
		StartsAt:   startsAt,
		EndsAt:     endsAt,
		MaxPlayers: ev.GetMaxPlayers(),
		Entrants:   make(map[string]*Entrant),
	}
	return nil
}

// newClue converts the i-th clue of a HuntCreated, noting any problem in f.
func newClue(f *fields, i int, c *huntv1.Clue) Clue {
	f.id(fmt.Sprintf("clue %d: clue_id", i), c.GetClueId())
	clue := Clue{ID: c.GetClueId(), Text: c.GetText(), Points: c.GetPoints()}
	switch sol := c.GetSolution().(type) {
	case *huntv1.Clue_AnswerSha256:
		f.check(len(sol.AnswerSha256) == sha256.Size, "clue %d: answer_sha256 has %d bytes, want %d", i, len(sol.AnswerSha256), sha256.Size)
		clue.AnswerSHA256 = bytes.Clone(sol.AnswerSha256)
	case *huntv1.Clue_Target:
		p := sol.Target.GetPoint()
		r := sol.Target.GetRadiusMeters()
		f.check(p != nil && validPoint(p.GetLatitude(), p.GetLongitude()), "clue %d: target point is missing or off the globe", i)
		f.check(r > 0 && !math.IsInf(r, 1), "clue %d: target radius_meters %v is not a positive distance", i, r)
		clue.Target = &Target{Latitude: p.GetLatitude(), Longitude: p.GetLongitude(), RadiusMeters: r}
	default:
		f.check(false, "clue %d: no solution", i)
	}
	return clue
}
