package huntapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/sqldb"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// The reads behind HuntService. Each costs a fixed number of indexed
// queries, whatever the number of players in the hunt.

// loadHunt reads one hunt's definition and counters, with no entrants.
// ranked reports whether its ranks are counted in hunt_ranks.
func loadHunt(ctx context.Context, q querier, huntID string) (st *hunt.State, h *hunt.Hunt, ranked bool, err error) {
	st = &hunt.State{Hunts: make(map[string]*hunt.Hunt), Players: make(map[string]*hunt.Player)}
	meta := make(map[string]huntMeta, 1)
	if err := loadHunts(ctx, q, st, []string{huntID}, meta); err != nil {
		return nil, nil, false, err
	}
	h, ok := st.Hunts[huntID]
	if !ok {
		return nil, nil, false, fmt.Errorf("hunt %q: %w", huntID, hunt.ErrUnknownHunt)
	}
	return st, h, meta[huntID].ranked, nil
}

// readSummary describes a hunt from its definition and counters.
func readSummary(ctx context.Context, q querier, huntID string) (hunt.Summary, error) {
	st, _, _, err := loadHunt(ctx, q, huntID)
	if err != nil {
		return hunt.Summary{}, err
	}
	return st.Summary(huntID)
}

// loadEntrant puts one entrant's row into h and its registration into st;
// false when the player has not joined.
func loadEntrant(ctx context.Context, q querier, st *hunt.State, h *hunt.Hunt, playerID string) (*hunt.Entrant, error) {
	e, err := scanEntrant(q.QueryRowContext(ctx, `SELECT `+entrantColumns+` FROM hunt_entrants WHERE hunt_id = $1 AND player_id = $2`, h.ID, playerID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load player %q in hunt %q: %w", playerID, h.ID, err)
	}
	h.Entrants[e.PlayerID] = e
	if err := loadNames(ctx, q, st, []string{playerID}); err != nil {
		return nil, err
	}
	return e, nil
}

// progress is a player's progress in a hunt, and the rules' last refusals
// of their events in it.
type progress struct {
	hunt.Progress
	// joined is false when the player has not joined the hunt, or it is
	// unknown: then Progress names them and the hunt's clues only, and
	// refusals say why.
	joined   bool
	refusals []*huntv1.EventRefused
}

// readProgress describes one player's progress in a hunt, with their
// refusals. A player who has not joined the hunt (or a hunt that does not
// exist) is not found, unless the rules refused their events in it.
func readProgress(ctx context.Context, q querier, huntID, playerID string) (progress, error) {
	refusals, err := readRefusals(ctx, q, huntID, playerID)
	if err != nil {
		return progress{}, err
	}
	// refusedOnly answers for a player the rules kept out, when they did.
	refusedOnly := func(err error, clues int) (progress, error) {
		if len(refusals) == 0 {
			return progress{}, err
		}
		pr := progress{Progress: hunt.Progress{HuntID: huntID, PlayerID: playerID, Clues: clues}, refusals: refusals}
		st := &hunt.State{Players: make(map[string]*hunt.Player)}
		if err := loadNames(ctx, q, st, []string{playerID}); err != nil {
			return progress{}, err
		}
		if p, ok := st.Players[playerID]; ok {
			pr.DisplayName = p.DisplayName
		}
		return pr, nil
	}
	st, h, _, err := loadHunt(ctx, q, huntID)
	if errors.Is(err, hunt.ErrUnknownHunt) {
		return refusedOnly(err, 0)
	}
	if err != nil {
		return progress{}, err
	}
	if _, err := loadEntrant(ctx, q, st, h, playerID); err != nil {
		return progress{}, err
	}
	p, err := st.Progress(huntID, playerID)
	if errors.Is(err, hunt.ErrNotJoined) {
		return refusedOnly(err, len(h.Clues))
	}
	if err != nil {
		return progress{}, err
	}
	return progress{Progress: p, joined: true, refusals: refusals}, nil
}

// readRefusals reads the last refusals of a player's events in a hunt,
// latest first.
func readRefusals(ctx context.Context, q querier, huntID, playerID string) ([]*huntv1.EventRefused, error) {
	rows, err := q.QueryContext(ctx, `SELECT event_id, event_type, reason, message, refused_at FROM hunt_refusals
		WHERE hunt_id = $1 AND player_id = $2 ORDER BY `+refusalOrder+` LIMIT $3`, huntID, playerID, maxRefusals)
	if err != nil {
		return nil, fmt.Errorf("refusals of player %q in hunt %q: %w", playerID, huntID, err)
	}
	defer rows.Close()
	var out []*huntv1.EventRefused
	for rows.Next() {
		r := &huntv1.EventRefused{HuntId: huntID, PlayerId: playerID}
		var at int64
		if err := rows.Scan(&r.RefusedEventId, &r.RefusedEventType, &r.Reason, &r.Message, &at); err != nil {
			return nil, fmt.Errorf("refusals of player %q in hunt %q: %w", playerID, huntID, err)
		}
		r.RefusedAt = timestamppb.New(fromNanos(at))
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("refusals of player %q in hunt %q: %w", playerID, huntID, err)
	}
	return out, nil
}

// readLeaderboard returns a hunt's best n standings, ordered by the
// database on the leaderboard index, and playerID's own standing, ranked
// by the rank counts (ranks.go), or by a count on the index for a hunt
// whose ranks are not counted yet.
func readLeaderboard(ctx context.Context, db *sqldb.DB, huntID string, n int, playerID string) (hunt.Leaderboard, error) {
	var q querier = db
	st, h, ranked, err := loadHunt(ctx, q, huntID)
	if err != nil {
		return hunt.Leaderboard{}, err
	}
	lb := hunt.Leaderboard{HuntID: huntID, Players: h.Joined}
	if n > 0 {
		rows, err := q.QueryContext(ctx, `SELECT e.player_id, e.joined_at, e.position, e.score, e.wrong_streak,
			e.last_wrong_at, e.completed_at, COALESCE(p.display_name, '')
			FROM hunt_entrants e LEFT JOIN hunt_names p ON p.player_id = e.player_id
			WHERE e.hunt_id = $1 ORDER BY e.score DESC, e.finish_key, e.player_id LIMIT $2`, huntID, n)
		if err != nil {
			return lb, fmt.Errorf("leaderboard of hunt %q: %w", huntID, err)
		}
		defer rows.Close()
		for rows.Next() {
			var e hunt.Entrant
			var joined, lastWrong, completed, score int64
			var name string
			if err := rows.Scan(&e.PlayerID, &joined, &e.Position, &score, &e.WrongStreak, &lastWrong, &completed, &name); err != nil {
				return lb, fmt.Errorf("leaderboard of hunt %q: %w", huntID, err)
			}
			e.Score, e.CompletedAt = uint32(score), fromNanos(completed)
			lb.Top = append(lb.Top, standing(h, &e, len(lb.Top)+1, name))
		}
		if err := rows.Err(); err != nil {
			return lb, fmt.Errorf("leaderboard of hunt %q: %w", huntID, err)
		}
	}
	if playerID == "" {
		return lb, nil
	}
	e, err := loadEntrant(ctx, q, st, h, playerID)
	if err != nil || e == nil {
		return lb, err
	}
	count := countAhead
	if !ranked {
		count = countAheadScan
	}
	ahead, err := count(ctx, q, db.Engine, huntID, e)
	if err != nil {
		return lb, fmt.Errorf("rank player %q in hunt %q: %w", playerID, huntID, err)
	}
	name := ""
	if p, ok := st.Players[playerID]; ok {
		name = p.DisplayName
	}
	own := standing(h, e, ahead+1, name)
	lb.Own = &own
	return lb, nil
}

func standing(h *hunt.Hunt, e *hunt.Entrant, rank int, name string) hunt.Standing {
	sd := hunt.Standing{Rank: rank, PlayerID: e.PlayerID, DisplayName: name, Score: e.Score, Completed: h.Completed(e)}
	if sd.Completed {
		sd.CompletedAt = e.CompletedAt
	}
	return sd
}
