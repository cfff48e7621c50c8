package hunt

import (
	"fmt"
	"time"
)

// Summary describes a hunt for anyone, without its clues' texts or
// solutions. It is plain data: safe for concurrent reads, not for concurrent
// writes.
type Summary struct {
	HuntID string
	Title  string
	// Clues is how many clues the hunt has.
	Clues int
	// Points is the score of a player who completes the hunt.
	Points     uint32
	StartsAt   time.Time
	EndsAt     time.Time
	MaxPlayers uint32
	// Players is how many players have joined.
	Players int
	// Completed is how many of them have completed the hunt.
	Completed int
}

// Summary describes the hunt with the given id; an unknown hunt gives an
// error wrapping ErrUnknownHunt. It only reads s: safe to call concurrently
// with other reads, but not with Apply.
func (s *State) Summary(huntID string) (Summary, error) {
	h, err := s.hunt(huntID)
	if err != nil {
		return Summary{}, err
	}
	var sum Summary
	h.Summarize(&sum)
	return sum, nil
}

// Summarize fills sum from h's definition and counters, without reading its
// entrants: it costs the same for any number of players.
func (h *Hunt) Summarize(sum *Summary) {
	*sum = Summary{
		HuntID:     h.ID,
		Title:      h.Title,
		Clues:      len(h.Clues),
		StartsAt:   h.StartsAt,
		EndsAt:     h.EndsAt,
		MaxPlayers: h.MaxPlayers,
		Players:    h.Joined,
		Completed:  h.Finished,
	}
	for _, c := range h.Clues {
		sum.Points += c.Points
	}
}

// Progress is one player's progress in one hunt, as the player may see it.
// It is plain data: safe for concurrent reads, not for concurrent writes.
type Progress struct {
	HuntID   string
	PlayerID string
	// DisplayName is empty while the player is unregistered.
	DisplayName string
	JoinedAt    time.Time
	// Position is the index of the current clue, from 0; it equals Clues
	// once the hunt is completed.
	Position int
	// Clues is how many clues the hunt has.
	Clues int
	// ClueID, ClueText and CluePoints describe the current clue; empty once
	// the hunt is completed.
	ClueID     string
	ClueText   string
	CluePoints uint32
	Score      uint32
	// WrongStreak counts wrong answers since the last correct one.
	WrongStreak int
	// RetryAt is zero unless the player has reached WrongAnswerLimit; then
	// answers submitted before it are rate limited.
	RetryAt     time.Time
	Completed   bool
	CompletedAt time.Time
}

// Progress describes a player's progress in a hunt. An unknown hunt gives an
// error wrapping ErrUnknownHunt, a player who has not joined one wrapping
// ErrNotJoined. It only reads s: safe to call concurrently with other reads,
// but not with Apply.
func (s *State) Progress(huntID, playerID string) (Progress, error) {
	h, err := s.hunt(huntID)
	if err != nil {
		return Progress{}, err
	}
	e, ok := h.Entrants[playerID]
	if !ok {
		return Progress{}, fmt.Errorf("player %q in hunt %q: %w", playerID, huntID, ErrNotJoined)
	}
	c, _ := h.current(e)
	p := Progress{
		HuntID:      h.ID,
		PlayerID:    e.PlayerID,
		DisplayName: s.displayName(e.PlayerID),
		JoinedAt:    e.JoinedAt,
		Position:    e.Position,
		Clues:       len(h.Clues),
		ClueID:      c.ID,
		ClueText:    c.Text,
		CluePoints:  c.Points,
		Score:       e.Score,
		WrongStreak: e.WrongStreak,
		RetryAt:     retryAt(e),
		Completed:   h.completed(e),
	}
	if p.Completed {
		p.CompletedAt = e.CompletedAt
	}
	return p, nil
}
