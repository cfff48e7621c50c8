package hunt

import huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"

// register records a player. A second registration of the same player
// replaces the display name and keeps the first registration time.
func (s *State) register(eventID string, ev *huntv1.PlayerRegistered) error {
	var f fields
	f.id("player_id", ev.GetPlayerId())
	at := f.time("registered_at", ev.GetRegisteredAt())
	if f.problem != "" {
		return reject(eventID, ev, ErrInvalidEvent, "%s", f.problem)
	}
	if p, ok := s.Players[ev.GetPlayerId()]; ok {
		p.DisplayName = ev.GetDisplayName()
		return nil
	}
	if s.Players == nil {
		s.Players = make(map[string]*Player)
	}
	s.Players[ev.GetPlayerId()] = &Player{
		ID:           ev.GetPlayerId(),
		DisplayName:  ev.GetDisplayName(),
		RegisteredAt: at,
	}
	return nil
}
