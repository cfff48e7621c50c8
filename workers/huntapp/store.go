package huntapp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/hunt"
)

// migrations creates the hunt's tables. One hunt is one JSON blob
// (hunt.Hunt), one registered player another (hunt.Player): applying an
// event reads and writes only the blobs it touches. The tables may exist
// already: the runtime created them before the hunt had a package of its
// own.
func migrations(sqldb.Engine) []string {
	return []string{
		`CREATE TABLE IF NOT EXISTS hunt_states (
			hunt_id TEXT PRIMARY KEY,
			state TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS hunt_players (
			player_id TEXT PRIMARY KEY,
			state TEXT NOT NULL)`,
	}
}

// applyBatch applies events to the hunts and players they touch, in tx,
// saves what changed, and returns the derived events.
func applyBatch(ctx context.Context, tx *sql.Tx, events []*workers.Event) (workers.Result, error) {
	var res workers.Result
	st := &hunt.State{Hunts: make(map[string]*hunt.Hunt), Players: make(map[string]*hunt.Player)}
	loadedHunts := make(map[string]bool)
	loadedPlayers := make(map[string]bool)
	dirtyHunts := make(map[string]bool)
	dirtyPlayers := make(map[string]bool)
	for _, ev := range events {
		playerID, isPlayer := isPlayerEvent(ev.Message)
		var huntID string
		if h, ok := ev.Message.(interface{ GetHuntId() string }); ok && !isPlayer {
			huntID = h.GetHuntId()
		}
		switch {
		case isPlayer:
			if err := loadPlayer(ctx, tx, st, loadedPlayers, playerID); err != nil {
				return res, err
			}
		case huntID != "":
			if err := loadHunt(ctx, tx, st, loadedHunts, huntID); err != nil {
				return res, err
			}
		}
		derived, err := st.Apply(ev.EventID, ev.Message)
		if rej, ok := errors.AsType[*hunt.RejectedError](err); ok {
			res.Rejected = append(res.Rejected, rejection(ev, rej))
			continue
		} else if err != nil {
			return res, fmt.Errorf("apply event %s: %w", ev.EventID, err)
		}
		if isPlayer {
			dirtyPlayers[playerID] = true
		} else {
			dirtyHunts[huntID] = true
		}
		for _, d := range derived {
			key, err := keyOf(d)
			if err != nil {
				return res, err
			}
			res.Derived = append(res.Derived, workers.Derived{Cause: ev, Key: key, Message: d})
		}
	}
	for id := range dirtyHunts {
		if err := saveBlob(ctx, tx, `INSERT INTO hunt_states (hunt_id, state) VALUES ($1, $2)
			ON CONFLICT (hunt_id) DO UPDATE SET state = excluded.state`, id, st.Hunts[id]); err != nil {
			return res, fmt.Errorf("save hunt %s: %w", id, err)
		}
	}
	for id := range dirtyPlayers {
		if err := saveBlob(ctx, tx, `INSERT INTO hunt_players (player_id, state) VALUES ($1, $2)
			ON CONFLICT (player_id) DO UPDATE SET state = excluded.state`, id, st.Players[id]); err != nil {
			return res, fmt.Errorf("save player %s: %w", id, err)
		}
	}
	return res, nil
}

func loadHunt(ctx context.Context, tx *sql.Tx, st *hunt.State, loaded map[string]bool, id string) error {
	if loaded[id] {
		return nil
	}
	loaded[id] = true
	h := new(hunt.Hunt)
	ok, err := loadBlob(ctx, tx, `SELECT state FROM hunt_states WHERE hunt_id = $1`, id, h)
	if err != nil {
		return fmt.Errorf("load hunt %s: %w", id, err)
	}
	if ok {
		st.Hunts[id] = h
	}
	return nil
}

func loadPlayer(ctx context.Context, tx *sql.Tx, st *hunt.State, loaded map[string]bool, id string) error {
	if loaded[id] {
		return nil
	}
	loaded[id] = true
	p := new(hunt.Player)
	ok, err := loadBlob(ctx, tx, `SELECT state FROM hunt_players WHERE player_id = $1`, id, p)
	if err != nil {
		return fmt.Errorf("load player %s: %w", id, err)
	}
	if ok {
		st.Players[id] = p
	}
	return nil
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func loadBlob(ctx context.Context, q querier, query, id string, v any) (bool, error) {
	var text string
	err := q.QueryRowContext(ctx, query, id).Scan(&text)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, json.Unmarshal([]byte(text), v)
}

func saveBlob(ctx context.Context, tx *sql.Tx, query, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, query, id, string(b))
	return err
}

// placeholders returns "$from, …" for n parameters.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}

// view loads a hunt and, for the read methods' display names, the players
// named in ids (all entrants when ids is nil). found is false for an
// unknown hunt.
func view(ctx context.Context, db querier, huntID string, ids []string) (st *hunt.State, found bool, err error) {
	st = &hunt.State{Hunts: make(map[string]*hunt.Hunt), Players: make(map[string]*hunt.Player)}
	h := new(hunt.Hunt)
	ok, err := loadBlob(ctx, db, `SELECT state FROM hunt_states WHERE hunt_id = $1`, huntID, h)
	if err != nil || !ok {
		return st, false, err
	}
	st.Hunts[huntID] = h
	if ids == nil {
		for id := range h.Entrants {
			ids = append(ids, id)
		}
	}
	if err := loadPlayers(ctx, db, st, ids); err != nil {
		return nil, false, err
	}
	return st, true, nil
}

func loadPlayers(ctx context.Context, db querier, st *hunt.State, ids []string) error {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := db.QueryContext(ctx, `SELECT state FROM hunt_players WHERE player_id IN (`+placeholders(1, len(chunk))+`)`, args...)
		if err != nil {
			return fmt.Errorf("load players: %w", err)
		}
		for rows.Next() {
			var text string
			p := new(hunt.Player)
			if err := rows.Scan(&text); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal([]byte(text), p); err != nil {
				rows.Close()
				return fmt.Errorf("load players: %w", err)
			}
			st.Players[p.ID] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load players: %w", err)
		}
	}
	return nil
}
