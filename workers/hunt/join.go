package hunt

import (
	"time"

	"google.golang.org/protobuf/proto"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// join enters a player, received at at, into a hunt that has not ended and
// is not full, and unlocks the first clue. Joining again is a no-op, even after the end.
func (s *State) join(eventID string, at time.Time, ev *huntv1.PlayerJoinedHunt) ([]proto.Message, error) {
	var f fields
	f.id("hunt_id", ev.GetHuntId())
	f.id("player_id", ev.GetPlayerId())
	f.time("joined_at", ev.GetJoinedAt()) // the client's claim: information only
	if f.problem != "" {
		return nil, reject(eventID, ev, ErrInvalidEvent, "%s", f.problem)
	}
	h, ok := s.Hunts[ev.GetHuntId()]
	if !ok {
		return nil, reject(eventID, ev, ErrUnknownHunt, "hunt %q", ev.GetHuntId())
	}
	if _, ok := h.Entrants[ev.GetPlayerId()]; ok {
		return nil, nil
	}
	if !at.Before(h.EndsAt) {
		return nil, reject(eventID, ev, ErrHuntEnded, "joined at %v, hunt %q ended at %v", at, h.ID, h.EndsAt)
	}
	if h.MaxPlayers > 0 && h.Joined >= int(h.MaxPlayers) {
		return nil, reject(eventID, ev, ErrHuntFull, "hunt %q has its %d players", h.ID, h.MaxPlayers)
	}
	if h.Entrants == nil {
		h.Entrants = make(map[string]*Entrant)
	}
	e := &Entrant{PlayerID: ev.GetPlayerId(), JoinedAt: at}
	h.Entrants[e.PlayerID] = e
	h.Joined++
	if u := h.unlocked(e, h.firstUnlock(e)); u != nil {
		return []proto.Message{u}, nil
	}
	return nil, nil
}
