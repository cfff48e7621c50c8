package hunt

import (
	"cmp"
	"maps"
	"slices"
	"strings"
	"time"
)

// Standing is one player's place on a hunt's leaderboard. It is plain data:
// safe for concurrent reads, not for concurrent writes.
type Standing struct {
	// Rank is the place, from 1. Every player has a distinct rank.
	Rank     int
	PlayerID string
	// DisplayName is empty while the player is unregistered.
	DisplayName string
	Score       uint32
	Completed   bool
	// CompletedAt is zero unless Completed.
	CompletedAt time.Time
}

// Leaderboard is the top of a hunt's ranking, with one player's own place.
// It is plain data: safe for concurrent reads, not for concurrent writes.
type Leaderboard struct {
	HuntID string
	// Top holds up to n standings, best first.
	Top []Standing
	// Own is the standing of the player asked for; nil when no player was
	// asked for or the player has not joined.
	Own *Standing
	// Players is how many players have joined the hunt.
	Players int
}

// Leaderboard ranks the players of a hunt by score, highest first; then
// those who completed the hunt before those who did not, earlier finish
// first; then by player id, so that the order is total and no two players
// share a rank. It returns the best n (none when n <= 0) and the standing of
// playerID when playerID is not empty. An unknown hunt gives an error
// wrapping ErrUnknownHunt. It only reads s: safe to call concurrently with
// other reads, but not with Apply.
func (s *State) Leaderboard(huntID string, n int, playerID string) (Leaderboard, error) {
	h, err := s.hunt(huntID)
	if err != nil {
		return Leaderboard{}, err
	}
	order := slices.SortedFunc(maps.Values(h.Entrants), h.compare)
	lb := Leaderboard{HuntID: h.ID, Players: len(order)}
	for i, e := range order {
		if i < n {
			lb.Top = append(lb.Top, s.standing(h, e, i+1))
		}
		if playerID != "" && e.PlayerID == playerID {
			own := s.standing(h, e, i+1)
			lb.Own = &own
		}
	}
	return lb, nil
}

func (s *State) standing(h *Hunt, e *Entrant, rank int) Standing {
	st := Standing{
		Rank:        rank,
		PlayerID:    e.PlayerID,
		DisplayName: s.displayName(e.PlayerID),
		Score:       e.Score,
		Completed:   h.completed(e),
	}
	if st.Completed {
		st.CompletedAt = e.CompletedAt
	}
	return st
}

// compare orders entrants as the leaderboard does: negative when a places
// before b.
func (h *Hunt) compare(a, b *Entrant) int {
	if c := cmp.Compare(b.Score, a.Score); c != 0 {
		return c
	}
	switch aDone, bDone := h.completed(a), h.completed(b); {
	case aDone && !bDone:
		return -1
	case !aDone && bDone:
		return 1
	case aDone && bDone:
		if c := a.CompletedAt.Compare(b.CompletedAt); c != 0 {
			return c
		}
	}
	return strings.Compare(a.PlayerID, b.PlayerID)
}

// rank is e's place on h's leaderboard now, from 1: s.Rank's answer when
// set, else h.rank's.
func (s *State) rank(h *Hunt, e *Entrant) int {
	if s.Rank != nil {
		return s.Rank(h, e)
	}
	return h.rank(e)
}

// Ahead reports whether o places before e on h's leaderboard.
func (h *Hunt) Ahead(o, e *Entrant) bool { return o != e && h.compare(o, e) < 0 }

// Completed reports whether e has solved every clue of h.
func (h *Hunt) Completed(e *Entrant) bool { return h.completed(e) }

// rank is e's place on the leaderboard now, from 1. It counts rather than
// sorts, so it costs one pass over the entrants.
func (h *Hunt) rank(e *Entrant) int {
	r := 1
	for _, o := range h.Entrants {
		if o != e && h.compare(o, e) < 0 {
			r++
		}
	}
	return r
}
