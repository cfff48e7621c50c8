package huntapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/workers/hunt"
)

// The reads behind HuntService. Each costs a fixed number of indexed
// queries, whatever the number of players in the hunt.

// loadHunt reads one hunt's definition and counters, with no entrants.
// ranked reports whether its ranks are counted in hunt_ranks.
func loadHunt(ctx context.Context, q querier, huntID string) (st *hunt.State, h *hunt.Hunt, ranked bool, err error) {
	st = &hunt.State{Hunts: make(map[string]*hunt.Hunt), Players: make(map[string]*hunt.Player)}
	isRanked := make(map[string]bool, 1)
	if err := loadHunts(ctx, q, st, []string{huntID}, isRanked); err != nil {
		return nil, nil, false, err
	}
	h, ok := st.Hunts[huntID]
	if !ok {
		return nil, nil, false, fmt.Errorf("hunt %q: %w", huntID, hunt.ErrUnknownHunt)
	}
	return st, h, isRanked[huntID], nil
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

// readProgress describes one player's progress in a hunt.
func readProgress(ctx context.Context, q querier, huntID, playerID string) (hunt.Progress, error) {
	st, h, _, err := loadHunt(ctx, q, huntID)
	if err != nil {
		return hunt.Progress{}, err
	}
	if _, err := loadEntrant(ctx, q, st, h, playerID); err != nil {
		return hunt.Progress{}, err
	}
	return st.Progress(huntID, playerID)
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
