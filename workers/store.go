package workers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// migrations creates the workers' tables. One hunt is one JSON blob
// (hunt.Hunt), one registered player another (hunt.Player): applying an
// event reads and writes only the blobs it touches.
func migrations(engine sqldb.Engine) []string {
	blob := "BLOB"
	if engine == sqldb.Postgres {
		blob = "BYTEA"
	}
	return []string{
		`CREATE TABLE worker_offsets (
			consumer_group TEXT NOT NULL,
			topic TEXT NOT NULL,
			partition_id INTEGER NOT NULL,
			next_offset BIGINT NOT NULL,
			PRIMARY KEY (consumer_group, topic, partition_id))`,
		`CREATE TABLE worker_applied (
			event_id TEXT PRIMARY KEY,
			topic TEXT NOT NULL,
			partition_id INTEGER NOT NULL,
			record_offset BIGINT NOT NULL)`,
		`CREATE TABLE hunt_states (
			hunt_id TEXT PRIMARY KEY,
			state TEXT NOT NULL)`,
		`CREATE TABLE hunt_players (
			player_id TEXT PRIMARY KEY,
			state TEXT NOT NULL)`,
		`CREATE TABLE worker_outbox (
			event_id TEXT PRIMARY KEY,
			topic TEXT NOT NULL,
			partition_id INTEGER NOT NULL,
			record_offset BIGINT NOT NULL,
			seq INTEGER NOT NULL,
			event_type TEXT NOT NULL,
			hunt_id TEXT NOT NULL,
			player_id TEXT NOT NULL,
			payload ` + blob + ` NOT NULL,
			sent BOOLEAN NOT NULL DEFAULT FALSE)`,
		`CREATE INDEX worker_outbox_unsent ON worker_outbox (topic, partition_id, sent, record_offset, seq)`,
	}
}

// errFenced means the partition's saved offset moved under a batch: another
// worker applied records of the partition. The batch was rolled back.
var errFenced = errors.New("the partition's saved offset moved: another worker owns it")

// store keeps the game state, applied event ids, the outbox and the
// partitions' offsets in one SQL database. It is safe for concurrent use.
type store struct {
	db    *sqldb.DB
	group string
}

func openStore(ctx context.Context, db *sqldb.DB, group string) (*store, error) {
	if err := db.Migrate(ctx, "workers", migrations(db.Engine)); err != nil {
		return nil, err
	}
	return &store{db: db, group: group}, nil
}

// noOffset is the saved offset of a partition nothing was applied from.
const noOffset = -1

// offset returns the next offset to read from a partition, or noOffset.
func (s *store) offset(ctx context.Context, topic string, partition int32) (int64, error) {
	var next int64
	err := s.db.QueryRowContext(ctx,
		`SELECT next_offset FROM worker_offsets WHERE consumer_group = $1 AND topic = $2 AND partition_id = $3`,
		s.group, topic, partition).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return noOffset, nil
	}
	if err != nil {
		return 0, fmt.Errorf("load offset of %s/%d: %w", topic, partition, err)
	}
	return next, nil
}

// input is one decoded record of a batch.
type input struct {
	eventID string
	offset  int64
	msg     proto.Message
}

// outboxRow is one derived event waiting to be produced.
type outboxRow struct {
	EventID  string
	Type     protoreflect.FullName
	HuntID   string
	PlayerID string
	Payload  []byte
}

// batchResult says what a batch did.
type batchResult struct {
	applied    int
	duplicates int
	rejected   []*hunt.RejectedError
	derived    int
}

// applyBatch applies a partition's records in one transaction: it skips
// event ids applied before, applies the rules to the hunts and players the
// records touch, writes the derived events to the outbox, and saves next as
// the partition's offset, provided the saved offset is still saved (it
// returns errFenced otherwise). next may exceed the last input's offset + 1
// when records of the batch were dead-lettered.
func (s *store) applyBatch(ctx context.Context, topic string, partition int32, saved int64, inputs []input, next int64) (batchResult, error) {
	var res batchResult
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		res = batchResult{}
		st := &hunt.State{Hunts: make(map[string]*hunt.Hunt), Players: make(map[string]*hunt.Player)}
		loadedHunts := make(map[string]bool)
		loadedPlayers := make(map[string]bool)
		dirtyHunts := make(map[string]bool)
		dirtyPlayers := make(map[string]bool)
		var outbox []outboxRow
		var outboxOffsets []int64
		for _, in := range inputs {
			r, err := tx.ExecContext(ctx, `INSERT INTO worker_applied (event_id, topic, partition_id, record_offset) VALUES ($1, $2, $3, $4)
				ON CONFLICT (event_id) DO NOTHING`, in.eventID, topic, partition, in.offset)
			if err != nil {
				return fmt.Errorf("record event id: %w", err)
			}
			if n, err := r.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				res.duplicates++
				continue
			}
			if p, ok := in.msg.(*huntv1.PlayerRegistered); ok {
				if err := loadPlayer(ctx, tx, st, loadedPlayers, p.GetPlayerId()); err != nil {
					return err
				}
			} else if h, ok := in.msg.(interface{ GetHuntId() string }); ok {
				if err := loadHunt(ctx, tx, st, loadedHunts, h.GetHuntId()); err != nil {
					return err
				}
			}
			derived, err := st.Apply(in.eventID, in.msg)
			if rej, ok := errors.AsType[*hunt.RejectedError](err); ok {
				res.rejected = append(res.rejected, rej)
				continue
			} else if err != nil {
				return fmt.Errorf("apply event %s: %w", in.eventID, err)
			}
			res.applied++
			switch m := in.msg.(type) {
			case *huntv1.PlayerRegistered:
				dirtyPlayers[m.GetPlayerId()] = true
			case interface{ GetHuntId() string }:
				dirtyHunts[m.GetHuntId()] = true
			}
			for _, d := range derived {
				row, err := newOutboxRow(in.eventID, d)
				if err != nil {
					return err
				}
				outbox = append(outbox, row)
				outboxOffsets = append(outboxOffsets, in.offset)
			}
		}
		for id := range dirtyHunts {
			if err := saveBlob(ctx, tx, `INSERT INTO hunt_states (hunt_id, state) VALUES ($1, $2)
				ON CONFLICT (hunt_id) DO UPDATE SET state = excluded.state`, id, st.Hunts[id]); err != nil {
				return fmt.Errorf("save hunt %s: %w", id, err)
			}
		}
		for id := range dirtyPlayers {
			if err := saveBlob(ctx, tx, `INSERT INTO hunt_players (player_id, state) VALUES ($1, $2)
				ON CONFLICT (player_id) DO UPDATE SET state = excluded.state`, id, st.Players[id]); err != nil {
				return fmt.Errorf("save player %s: %w", id, err)
			}
		}
		for i, row := range outbox {
			if _, err := tx.ExecContext(ctx, `INSERT INTO worker_outbox
				(event_id, topic, partition_id, record_offset, seq, event_type, hunt_id, player_id, payload)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (event_id) DO NOTHING`,
				row.EventID, topic, partition, outboxOffsets[i], i, string(row.Type), row.HuntID, row.PlayerID, row.Payload); err != nil {
				return fmt.Errorf("write outbox: %w", err)
			}
		}
		res.derived = len(outbox)
		return s.saveOffset(ctx, tx, topic, partition, saved, next)
	})
	return res, err
}

// saveOffset moves a partition's offset from saved to next, or returns
// errFenced when the saved offset is no longer saved.
func (s *store) saveOffset(ctx context.Context, tx *sql.Tx, topic string, partition int32, saved, next int64) error {
	var r sql.Result
	var err error
	if saved == noOffset {
		r, err = tx.ExecContext(ctx, `INSERT INTO worker_offsets (consumer_group, topic, partition_id, next_offset)
			VALUES ($1, $2, $3, $4) ON CONFLICT (consumer_group, topic, partition_id) DO NOTHING`,
			s.group, topic, partition, next)
	} else {
		r, err = tx.ExecContext(ctx, `UPDATE worker_offsets SET next_offset = $1
			WHERE consumer_group = $2 AND topic = $3 AND partition_id = $4 AND next_offset = $5`,
			next, s.group, topic, partition, saved)
	}
	if err != nil {
		return fmt.Errorf("save offset of %s/%d: %w", topic, partition, err)
	}
	if n, err := r.RowsAffected(); err != nil {
		return err
	} else if n == 0 {
		return fmt.Errorf("save offset %d of %s/%d over %d: %w", next, topic, partition, saved, errFenced)
	}
	return nil
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

// derivedMessage is what every derived event has.
type derivedMessage interface {
	proto.Message
	GetHuntId() string
	GetPlayerId() string
}

func newOutboxRow(cause string, m proto.Message) (outboxRow, error) {
	d, ok := m.(derivedMessage)
	if !ok {
		return outboxRow{}, fmt.Errorf("derived event %T has no hunt and player", m)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return outboxRow{}, fmt.Errorf("encode derived event: %w", err)
	}
	name := m.ProtoReflect().Descriptor().FullName()
	return outboxRow{
		EventID:  wire.DerivedEventID(cause, string(name)),
		Type:     name,
		HuntID:   d.GetHuntId(),
		PlayerID: d.GetPlayerId(),
		Payload:  b,
	}, nil
}

// unsent returns a partition's derived events not yet marked sent, in the
// order they were derived.
func (s *store) unsent(ctx context.Context, topic string, partition int32) ([]outboxRow, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT event_id, event_type, hunt_id, player_id, payload FROM worker_outbox
		WHERE topic = $1 AND partition_id = $2 AND sent = FALSE ORDER BY record_offset, seq`, topic, partition)
	if err != nil {
		return nil, fmt.Errorf("read outbox of %s/%d: %w", topic, partition, err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		var name string
		if err := rows.Scan(&r.EventID, &name, &r.HuntID, &r.PlayerID, &r.Payload); err != nil {
			return nil, fmt.Errorf("read outbox of %s/%d: %w", topic, partition, err)
		}
		r.Type = protoreflect.FullName(name)
		out = append(out, r)
	}
	return out, rows.Err()
}

// markSent marks derived events as produced.
func (s *store) markSent(ctx context.Context, rows []outboxRow) error {
	if len(rows) == 0 {
		return nil
	}
	args := make([]any, len(rows))
	for i, r := range rows {
		args[i] = r.EventID
	}
	_, err := s.db.ExecContext(ctx, `UPDATE worker_outbox SET sent = TRUE WHERE event_id IN (`+placeholders(1, len(rows))+`)`, args...)
	if err != nil {
		return fmt.Errorf("mark %d derived events sent: %w", len(rows), err)
	}
	return nil
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
func (s *store) view(ctx context.Context, huntID string, ids []string) (st *hunt.State, found bool, err error) {
	st = &hunt.State{Hunts: make(map[string]*hunt.Hunt), Players: make(map[string]*hunt.Player)}
	h := new(hunt.Hunt)
	ok, err := loadBlob(ctx, s.db, `SELECT state FROM hunt_states WHERE hunt_id = $1`, huntID, h)
	if err != nil || !ok {
		return st, false, err
	}
	st.Hunts[huntID] = h
	if ids == nil {
		for id := range h.Entrants {
			ids = append(ids, id)
		}
	}
	if err := s.loadPlayers(ctx, st, ids); err != nil {
		return nil, false, err
	}
	return st, true, nil
}

func (s *store) loadPlayers(ctx context.Context, st *hunt.State, ids []string) error {
	for len(ids) > 0 {
		chunk := ids[:min(len(ids), 500)]
		ids = ids[len(chunk):]
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := s.db.QueryContext(ctx, `SELECT state FROM hunt_players WHERE player_id IN (`+placeholders(1, len(chunk))+`)`, args...)
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
