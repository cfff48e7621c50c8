package hunt

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// State is the game as the events applied so far have made it: every hunt,
// with its players' progress, and every registered player.
//
// The zero State is empty and ready to use. Its fields are exported so that
// a store can persist it with encoding/json and load it back. Applying a hunt
// event reads and writes only Hunts[hunt_id], and PlayerRegistered only
// Players[player_id], so a store may keep one blob per hunt, load only the
// hunts a batch touches, and keep players apart; the read methods also use
// Players, for display names.
//
// A State is not safe for concurrent use: its read methods may run
// concurrently with each other, but not with Apply.
type State struct {
	// Hunts by hunt id.
	Hunts map[string]*Hunt `json:"hunts"`
	// Players by player id; only those who registered.
	Players map[string]*Player `json:"players"`
	// Rank, when set, gives an entrant's place on its hunt's leaderboard,
	// from 1, for a store that holds only some of a hunt's entrants in
	// Entrants (the ones a batch touches) and the rest in rows it can
	// count. Nil means every entrant is in Entrants and they are counted.
	Rank func(h *Hunt, e *Entrant) int `json:"-"`
}

// Player is a registered player. It is plain data: safe for concurrent
// reads, not for concurrent writes.
type Player struct {
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	// RegisteredAt is from the first registration applied.
	RegisteredAt time.Time `json:"registered_at"`
}

// Hunt is one hunt: its definition, its counters and joined players'
// progress. A store may persist the definition, the counters and each
// entrant apart. It is plain data: safe for concurrent reads, not
// for concurrent writes.
type Hunt struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Clues are solved in this order; never empty.
	Clues    []Clue    `json:"clues"`
	StartsAt time.Time `json:"starts_at"`
	EndsAt   time.Time `json:"ends_at"`
	// MaxPlayers caps how many players may join; 0 means no cap.
	MaxPlayers uint32 `json:"max_players"`
	// Joined counts the players who joined; a store that keeps entrants
	// as rows loads it instead of every entrant.
	Joined int `json:"joined"`
	// Finished counts the players who completed the hunt.
	Finished int `json:"finished"`
	// Entrants are the players who joined, by player id; a store may hold
	// only the ones a batch touches (see State.Rank).
	Entrants map[string]*Entrant `json:"entrants"`
}

// Clue is one step of a hunt, solved by a text answer (AnswerSHA256 is set)
// or by reaching a place (Target is set). It is plain data: safe for
// concurrent reads, not for concurrent writes.
type Clue struct {
	ID     string `json:"id"`
	Text   string `json:"text"`
	Points uint32 `json:"points"`
	// AnswerSHA256 is the SHA-256 of the normalized answer; see AnswerSHA256.
	AnswerSHA256 []byte  `json:"answer_sha256,omitempty"`
	Target       *Target `json:"target,omitempty"`
}

// Target is a place a player must reach: within RadiusMeters of the point
// at Latitude, Longitude (WGS 84 degrees). It is plain data: safe for
// concurrent reads, not for concurrent writes.
type Target struct {
	Latitude     float64 `json:"latitude"`
	Longitude    float64 `json:"longitude"`
	RadiusMeters float64 `json:"radius_meters"`
}

// Entrant is one player's progress in one hunt. It is plain data: safe for
// concurrent reads, not for concurrent writes.
type Entrant struct {
	PlayerID string    `json:"player_id"`
	JoinedAt time.Time `json:"joined_at"`
	// Position is the index of the clue the player is on; it equals the
	// number of clues once the hunt is completed.
	Position int    `json:"position"`
	Score    uint32 `json:"score"`
	// WrongStreak counts wrong answers since the last correct one.
	WrongStreak int `json:"wrong_streak"`
	// LastWrongAt is when the latest of those wrong answers was submitted;
	// zero when WrongStreak is 0.
	LastWrongAt time.Time `json:"last_wrong_at,omitzero"`
	// CompletedAt is when the last clue was solved; zero until then.
	CompletedAt time.Time `json:"completed_at,omitzero"`
}

// Apply applies ev, whose event id is eventID, to s and returns the events it
// derives, in the order they happened. at is when the gateway received ev,
// by its own clock: the rules judge order, time windows, rate limits,
// elapsed time and ranking by it. The times the client claims in ev
// (joined_at, submitted_at) are checked for form and otherwise kept as
// information only. ev must be a *huntv1.PlayerRegistered,
// *huntv1.HuntCreated, *huntv1.PlayerJoinedHunt or *huntv1.AnswerSubmitted;
// eventID is needed for AnswerSubmitted, whose judgement refers to it.
//
// An event that cannot apply returns a *RejectedError and leaves s
// unchanged. Apply never panics. It is not safe for concurrent use.
func (s *State) Apply(eventID string, at time.Time, ev proto.Message) ([]proto.Message, error) {
	switch ev := ev.(type) {
	case *huntv1.PlayerRegistered:
		return nil, s.register(eventID, ev)
	case *huntv1.HuntCreated:
		return nil, s.create(eventID, ev)
	case *huntv1.PlayerJoinedHunt:
		return s.join(eventID, at, ev)
	case *huntv1.AnswerSubmitted:
		return s.answer(eventID, at, ev)
	}
	return nil, reject(eventID, ev, ErrUnsupportedEvent, "want PlayerRegistered, HuntCreated, PlayerJoinedHunt or AnswerSubmitted")
}

// hunt returns the hunt with the given id, or an error wrapping
// ErrUnknownHunt.
func (s *State) hunt(id string) (*Hunt, error) {
	h, ok := s.Hunts[id]
	if !ok {
		return nil, fmt.Errorf("hunt %q: %w", id, ErrUnknownHunt)
	}
	return h, nil
}

// displayName returns the registered name of a player, or "".
func (s *State) displayName(playerID string) string {
	if p, ok := s.Players[playerID]; ok {
		return p.DisplayName
	}
	return ""
}

// current returns the clue e is on; false once e has completed the hunt.
func (h *Hunt) current(e *Entrant) (Clue, bool) {
	if e.Position < 0 || e.Position >= len(h.Clues) {
		return Clue{}, false
	}
	return h.Clues[e.Position], true
}

// completed reports whether e has solved every clue.
func (h *Hunt) completed(e *Entrant) bool {
	return e.Position >= len(h.Clues)
}

// firstUnlock is when e's first clue was unlocked: the later of joining and
// the hunt's start.
func (h *Hunt) firstUnlock(e *Entrant) time.Time {
	if e.JoinedAt.After(h.StartsAt) {
		return e.JoinedAt
	}
	return h.StartsAt
}

// unlocked is the ClueUnlocked event for e's current clue, or nil once e
// has completed the hunt.
func (h *Hunt) unlocked(e *Entrant, at time.Time) *huntv1.ClueUnlocked {
	c, ok := h.current(e)
	if !ok {
		return nil
	}
	return &huntv1.ClueUnlocked{
		HuntId:     h.ID,
		PlayerId:   e.PlayerID,
		ClueId:     c.ID,
		Position:   uint32(e.Position),
		Text:       c.Text,
		Points:     c.Points,
		UnlockedAt: timestamppb.New(at),
	}
}

// fields checks an input event's fields and keeps the first problem found.
type fields struct{ problem string }

func (f *fields) id(name, value string) {
	if f.problem == "" && value == "" {
		f.problem = name + " is empty"
	}
}

func (f *fields) time(name string, ts *timestamppb.Timestamp) time.Time {
	if err := ts.CheckValid(); err != nil {
		if f.problem == "" {
			f.problem = fmt.Sprintf("%s: %v", name, err)
		}
		return time.Time{}
	}
	return ts.AsTime()
}

func (f *fields) check(ok bool, format string, args ...any) {
	if f.problem == "" && !ok {
		f.problem = fmt.Sprintf(format, args...)
	}
}
