package workers

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/wire"
)

// migrations creates the runtime's tables. The steps that created the hunt
// app's tables before it had a package of its own, and the outbox keyed by
// hunt and player, are kept as no-ops so that the step numbers of existing
// databases still hold.
func migrations(engine sqldb.Engine) []string {
	blob := "BLOB"
	// SQLite adds a column with a constant default only, so the ids
	// recorded before are dated by an UPDATE; PostgreSQL dates them with
	// the default it evaluates once (no rewrite of the table), then drops
	// it, so that every insert must say when.
	appliedAt := `ALTER TABLE worker_applied ADD COLUMN applied_at BIGINT NOT NULL DEFAULT 0`
	appliedAtNow := `UPDATE worker_applied SET applied_at = CAST(unixepoch('subsec') * 1000 AS INTEGER)`
	if engine == sqldb.Postgres {
		blob = "BYTEA"
		appliedAt = `ALTER TABLE worker_applied ADD COLUMN applied_at BIGINT NOT NULL DEFAULT CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)`
		appliedAtNow = `ALTER TABLE worker_applied ALTER COLUMN applied_at DROP DEFAULT`
	}
	// legacyEvents is appendOutbox in SQL: a cause's rows of the outbox of
	// one row per event, encoded in their order.
	field := func(col string) string {
		return `unhex(printf('%08x', length(CAST(` + col + ` AS BLOB)))) || CAST(` + col + ` AS BLOB)`
	}
	agg := func(fields string) string { return `CAST(group_concat(` + fields + `, '' ORDER BY seq) AS BLOB)` }
	if engine == sqldb.Postgres {
		field = func(col string) string {
			if col == "event_key" || col == "payload" {
				return `int4send(length(` + col + `)) || ` + col
			}
			return `int4send(length(convert_to(` + col + `, 'UTF8'))) || convert_to(` + col + `, 'UTF8')`
		}
		agg = func(fields string) string { return `string_agg(` + fields + `, ''::bytea ORDER BY seq)` }
	}
	var fields []string
	for _, col := range []string{"event_id", "event_type", "event_key", "payload", "traceparent", "tracestate"} {
		fields = append(fields, field(col))
	}
	legacyEvents := agg(strings.Join(fields, " || "))
	const moved = `SELECT 1`
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
		moved, // hunt_states: the hunt app's now
		moved, // hunt_players: the hunt app's now
		moved, // worker_outbox, keyed by hunt and player
		moved, // its index
		`CREATE TABLE worker_derived (
			event_id TEXT PRIMARY KEY,
			topic TEXT NOT NULL,
			partition_id INTEGER NOT NULL,
			record_offset BIGINT NOT NULL,
			seq INTEGER NOT NULL,
			event_type TEXT NOT NULL,
			event_key ` + blob + ` NOT NULL,
			payload ` + blob + ` NOT NULL,
			sent BOOLEAN NOT NULL DEFAULT FALSE)`,
		`CREATE INDEX worker_derived_unsent ON worker_derived (topic, partition_id, sent, record_offset, seq)`,
		// The W3C trace context of the apply that derived the event, for
		// the relay to continue; '' when it was not traced.
		`ALTER TABLE worker_derived ADD COLUMN traceparent TEXT NOT NULL DEFAULT ''`,
		`ALTER TABLE worker_derived ADD COLUMN tracestate TEXT NOT NULL DEFAULT ''`,
		// Derived events leave the outbox once Kafka holds them (markSent),
		// rather than staying in it marked sent: the table holds only what
		// is in flight, however long the worker runs.
		`DELETE FROM worker_derived WHERE sent = TRUE`,
		// When each event id was applied, in Unix milliseconds, so that ids
		// older than the retention can be pruned (pruneApplied). The ids
		// recorded before this step count as applied by it.
		appliedAt,
		appliedAtNow,
		`CREATE INDEX worker_applied_age ON worker_applied (applied_at)`,
		// Only a partition's relay, when it starts, reads the outbox in
		// order, and the outbox holds only what is in flight: an index kept
		// for that read cost a fifth of the runtime's part of a batch on
		// SQLite. The sent flag has been FALSE since sent rows leave.
		`DROP INDEX worker_derived_unsent`,
		`ALTER TABLE worker_derived DROP COLUMN sent`,
		// The outbox holds one row per batch, its derived events encoded
		// together (appendOutbox): written and deleted once per batch, not
		// once per event, which was half the runtime's part of a batch. The
		// events left in flight in the table of one row per event move
		// over, a row per cause, keyed by the cause's offset + 1: no later
		// than the offset their batch saved, so before every later batch.
		`CREATE TABLE worker_outbox_batches (
			topic TEXT NOT NULL,
			partition_id INTEGER NOT NULL,
			next_offset BIGINT NOT NULL,
			events ` + blob + ` NOT NULL,
			PRIMARY KEY (topic, partition_id, next_offset))`,
		`INSERT INTO worker_outbox_batches (topic, partition_id, next_offset, events)
			SELECT topic, partition_id, record_offset + 1, ` + legacyEvents + `
			FROM worker_derived GROUP BY topic, partition_id, record_offset`,
		`DROP TABLE worker_derived`,
	}
}

// errFenced means the partition's saved offset moved under a batch: another
// worker applied records of the partition. The batch was rolled back.
var errFenced = errors.New("the partition's saved offset moved: another worker owns it")

// store keeps the app's tables, applied event ids, the outbox and the
// partitions' offsets in one SQL database. It is safe for concurrent use.
type store struct {
	db       *sqldb.DB
	prepared *sqldb.Prepared // the runtime's statements
	group    string
	app      App
	tracing  *tracing // nil when tracing is off
}

// openStore creates the runtime's tables and then app's, when missing.
func openStore(ctx context.Context, db *sqldb.DB, group string, app App) (*store, error) {
	if err := db.Migrate(ctx, "workers", migrations(db.Engine)); err != nil {
		return nil, err
	}
	var other string
	err := db.QueryRowContext(ctx, `SELECT consumer_group FROM worker_offsets WHERE consumer_group <> $1 LIMIT 1`, group).Scan(&other)
	switch {
	case err == nil:
		return nil, fmt.Errorf("%w: the database already serves group %q; group %q would skip every event id %q applied (give each group a database of its own)",
			ErrOtherGroup, other, group, other)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("check the database's group: %w", err)
	}
	if steps := app.Migrations(db.Engine); len(steps) > 0 {
		if err := db.Migrate(ctx, "app", steps); err != nil {
			return nil, err
		}
	}
	var queries []string
	for _, n := range sqldb.RowCounts {
		queries = append(queries, recordAppliedSQLite(n))
	}
	prepared, err := db.Prepare(ctx, queries)
	if err != nil {
		return nil, err
	}
	if p, ok := app.(Preparer); ok {
		if err := p.Prepare(ctx, db); err != nil {
			return nil, errors.Join(err, prepared.Close())
		}
	}
	return &store{db: db, prepared: prepared, group: group, app: app}, nil
}

// ErrOtherGroup means a worker's database holds the offsets of another
// consumer group. The applied event ids are the database's, not a
// group's: a second group would skip the events the first applied.
var ErrOtherGroup = errors.New("another consumer group's database")

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

// batchResult says what a batch did.
type batchResult struct {
	applied    int
	duplicates int
	rejected   []Rejection
	outbox     []outboxRow // the derived events written, in order
}

// applyBatch applies a partition's events in one transaction: it skips
// event ids applied before, has the app apply the others, writes the
// derived events to the outbox, and saves next as the partition's offset,
// provided the saved offset is still saved (it returns errFenced
// otherwise). next may exceed the last event's offset + 1 when records of
// the batch were dead-lettered or skipped.
//
// sent names the partition's batches whose derived events Kafka has
// acknowledged since they were last marked, by the offsets they saved:
// they leave the outbox in the same transaction.
//
// When the worker traces, each event given to the app that carries trace
// context has a span of its own for each attempt, ended when the attempt
// commits or fails.
func (s *store) applyBatch(ctx context.Context, topic string, partition int32, saved int64, events []*Event, next int64, sent []int64) (batchResult, error) {
	var res batchResult
	var traced []*Event // the events with a span in the current attempt
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		endApply(traced, nil, errRolledBack) // an attempt whose commit failed
		var err error
		res, traced, err = s.applyTx(ctx, tx, topic, partition, saved, events, next)
		if err == nil {
			err = s.markSent(ctx, tx, topic, partition, sent)
		}
		if err != nil {
			endApply(traced, nil, err)
			traced = nil
		}
		return err
	})
	endApply(traced, res.rejected, err)
	return res, err
}

// applyTx is one attempt of applyBatch, in tx. It also returns the events
// it started spans for.
func (s *store) applyTx(ctx context.Context, tx *sql.Tx, topic string, partition int32, saved int64, events []*Event, next int64) (batchResult, []*Event, error) {
	var res batchResult
	fresh, err := s.recordApplied(ctx, tx, topic, partition, events)
	if err != nil {
		return res, nil, err
	}
	res.duplicates = len(events) - len(fresh)
	var traced []*Event
	if len(fresh) > 0 {
		traced = s.tracing.startApply(ctx, fresh)
		out, err := s.app.Apply(ctx, tx, fresh)
		if err != nil {
			return res, traced, fmt.Errorf("apply %d events: %w", len(fresh), err)
		}
		res.applied, res.rejected = len(fresh)-len(out.Rejected), out.Rejected
		if res.outbox, err = s.outboxRows(out.Derived); err != nil {
			return res, traced, err
		}
		// The batch's derived events are one outbox row, keyed by the
		// offset the batch saves. No two rows of a partition share it: a
		// partition's relay empties the outbox before its first batch and
		// before it reads again from a lower offset (rewind), and in
		// between the saved offset only grows. Were one shared, the insert
		// would fail and the batch be retried, never a row lost.
		var encoded []byte // nil: no row
		if len(res.outbox) > 0 {
			encoded = appendOutbox(nil, res.outbox)
		}
		if s.db.Engine == sqldb.Postgres {
			return res, traced, s.finishPostgres(ctx, tx, topic, partition, encoded, saved, next)
		}
		if encoded != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO worker_outbox_batches (topic, partition_id, next_offset, events) VALUES ($1, $2, $3, $4)`,
				topic, partition, next, encoded); err != nil {
				return res, traced, fmt.Errorf("write outbox: %w", err)
			}
		}
	}
	return res, traced, s.saveOffset(ctx, tx, topic, partition, saved, next)
}

// finishPostgres writes a batch's encoded derived events to the outbox,
// when not nil, and moves the partition's offset from saved to next, as
// saveOffset does, in one statement: one round trip.
func (s *store) finishPostgres(ctx context.Context, tx *sql.Tx, topic string, partition int32, encoded []byte, saved, next int64) error {
	args := []any{topic, partition, encoded, next, s.group}
	move := `INSERT INTO worker_offsets (consumer_group, topic, partition_id, next_offset) VALUES ($5, $1, $2, $4)
			ON CONFLICT (consumer_group, topic, partition_id) DO NOTHING RETURNING 1`
	if saved != noOffset {
		move = `UPDATE worker_offsets SET next_offset = $4
			WHERE consumer_group = $5 AND topic = $1 AND partition_id = $2 AND next_offset = $6 RETURNING 1`
		args = append(args, saved)
	}
	var moved int64
	err := tx.QueryRowContext(ctx, `WITH moved AS (`+move+`),
		derived AS (INSERT INTO worker_outbox_batches (topic, partition_id, next_offset, events)
			SELECT $1::text, $2::integer, $4::bigint, $3::bytea WHERE $3::bytea IS NOT NULL)
		SELECT COUNT(*) FROM moved`, args...).Scan(&moved)
	if err != nil {
		return fmt.Errorf("write outbox and save offset of %s/%d: %w", topic, partition, err)
	}
	if moved == 0 {
		return fmt.Errorf("save offset %d of %s/%d over %d: %w", next, topic, partition, saved, errFenced)
	}
	return nil
}

// recordApplied records the events' ids as applied, a few hundred to a
// statement, and returns the events whose ids were not applied before, in
// order; of an id repeated within events, only the first counts.
func (s *store) recordApplied(ctx context.Context, tx *sql.Tx, topic string, partition int32, events []*Event) ([]*Event, error) {
	inserted := make(map[string]bool, len(events))
	now := time.Now().UnixMilli()
	if s.db.Engine == sqldb.Postgres {
		keys, offsets := make([]string, len(events)), make([]int64, len(events))
		for i, ev := range events {
			keys[i], offsets[i] = appliedKey(ev.Principal, ev.EventID), ev.Offset
		}
		rows, err := tx.QueryContext(ctx, `INSERT INTO worker_applied (event_id, topic, partition_id, record_offset, applied_at)
			SELECT k, $3::text, $4::integer, o, $5::bigint FROM unnest($1::text[], $2::bigint[]) AS u (k, o)
			ON CONFLICT (event_id) DO NOTHING RETURNING event_id`, keys, offsets, topic, partition, now)
		if err != nil {
			return nil, fmt.Errorf("record event ids: %w", err)
		}
		if err := scanIDs(rows, inserted); err != nil {
			return nil, fmt.Errorf("record event ids: %w", err)
		}
	}
	if s.db.Engine != sqldb.Postgres {
		ptx := s.prepared.Tx(tx)
		rest := events
		for _, n := range sqldb.SplitRows(len(events)) {
			chunk := rest[:n]
			rest = rest[n:]
			args := make([]any, 0, 5*n)
			for _, ev := range chunk {
				args = append(args, appliedKey(ev.Principal, ev.EventID), topic, partition, ev.Offset, now)
			}
			rows, err := ptx.QueryContext(ctx, recordAppliedSQLite(n), args...)
			if err != nil {
				return nil, fmt.Errorf("record event ids: %w", err)
			}
			if err := scanIDs(rows, inserted); err != nil {
				return nil, fmt.Errorf("record event ids: %w", err)
			}
		}
	}
	fresh := make([]*Event, 0, len(inserted))
	for _, ev := range events {
		if key := appliedKey(ev.Principal, ev.EventID); inserted[key] {
			delete(inserted, key)
			fresh = append(fresh, ev)
		}
	}
	return fresh, nil
}

// recordAppliedSQLite is the SQLite statement recording n event ids.
func recordAppliedSQLite(n int) string {
	return `INSERT INTO worker_applied (event_id, topic, partition_id, record_offset, applied_at) VALUES ` +
		rowMarks(n, 5) + ` ON CONFLICT (event_id) DO NOTHING RETURNING event_id`
}

// rowMarks returns n rows of width SQLite parameter marks: "(?, ?), (?, ?)".
func rowMarks(n, width int) string {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// scanIDs adds the ids rows hold to ids, and closes rows.
func scanIDs(rows *sql.Rows, ids map[string]bool) error {
	defer rows.Close()
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		ids[id] = true
	}
	return rows.Err()
}

// outboxRows encodes derived events as the outbox holds them, with the
// trace context of the apply that derived each.
func (s *store) outboxRows(derived []Derived) ([]outboxRow, error) {
	if len(derived) == 0 {
		return nil, nil
	}
	rows := make([]outboxRow, len(derived))
	for i, d := range derived {
		row, err := newOutboxRow(d)
		if err != nil {
			return nil, err
		}
		row.Traceparent, row.Tracestate = s.tracing.traceContext(d.Cause)
		rows[i] = row
	}
	return rows, nil
}

func newOutboxRow(d Derived) (outboxRow, error) {
	if d.Cause == nil || d.Message == nil {
		return outboxRow{}, errors.New("derived event without a cause or a message")
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(d.Message)
	if err != nil {
		return outboxRow{}, fmt.Errorf("encode derived event: %w", err)
	}
	name := d.Message.ProtoReflect().Descriptor().FullName()
	key := d.Key
	if key == nil {
		key = []byte{}
	}
	return outboxRow{EventID: wire.DerivedEventID(appliedKey(d.Cause.Principal, d.Cause.EventID), string(name)), Type: name, Key: key, Payload: b}, nil
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

// unsent returns a partition's batches of derived events not yet sent
// (the outbox holds no others), in the order they were derived.
func (s *store) unsent(ctx context.Context, topic string, partition int32) ([]outboxBatch, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT next_offset, events FROM worker_outbox_batches
		WHERE topic = $1 AND partition_id = $2 ORDER BY next_offset`, topic, partition)
	if err != nil {
		return nil, fmt.Errorf("read outbox of %s/%d: %w", topic, partition, err)
	}
	defer rows.Close()
	var out []outboxBatch
	for rows.Next() {
		var b outboxBatch
		var events []byte
		if err := rows.Scan(&b.next, &events); err != nil {
			return nil, fmt.Errorf("read outbox of %s/%d: %w", topic, partition, err)
		}
		if b.rows, err = decodeOutbox(events); err != nil {
			return nil, fmt.Errorf("read outbox of %s/%d, batch to %d: %w", topic, partition, b.next, err)
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// markSent removes from the outbox the batches of a partition whose derived
// events Kafka acknowledged, named by the offsets they saved, in tx or,
// when tx is nil, on its own. Nothing reads them again: their causes are
// recorded as applied, so no batch derives them again.
func (s *store) markSent(ctx context.Context, tx *sql.Tx, topic string, partition int32, batches []int64) error {
	exec := s.db.ExecContext
	if tx != nil {
		exec = tx.ExecContext
	}
	if len(batches) == 0 {
		return nil
	}
	if s.db.Engine == sqldb.Postgres {
		if _, err := exec(ctx, `DELETE FROM worker_outbox_batches WHERE topic = $1 AND partition_id = $2 AND next_offset = ANY($3)`,
			topic, partition, batches); err != nil {
			return fmt.Errorf("mark %d batches of derived events sent: %w", len(batches), err)
		}
		return nil
	}
	// SQLite: the offsets as one JSON array, so that the statement's text
	// and its parameters are the same for any number of batches.
	list, err := json.Marshal(batches)
	if err != nil {
		return fmt.Errorf("mark %d batches of derived events sent: %w", len(batches), err)
	}
	if _, err := exec(ctx, `DELETE FROM worker_outbox_batches WHERE topic = $1 AND partition_id = $2
		AND next_offset IN (SELECT value FROM json_each($3))`, topic, partition, string(list)); err != nil {
		return fmt.Errorf("mark %d batches of derived events sent: %w", len(batches), err)
	}
	return nil
}

// pruneChunk bounds the ids one call of pruneApplied deletes, so that a
// worker pruning a backlog holds SQLite's write lock, or PostgreSQL's row
// locks, for a few milliseconds at a time, between batches.
const pruneChunk = 5_000

// pruneApplied forgets up to pruneChunk event ids applied before before,
// oldest first, and returns how many it forgot. A record with a forgotten
// id is applied again; pruning keeps worker_applied, otherwise one row per
// event ever applied, as large as the retention.
func (s *store) pruneApplied(ctx context.Context, before time.Time) (int64, error) {
	r, err := s.db.ExecContext(ctx, `DELETE FROM worker_applied WHERE event_id IN
		(SELECT event_id FROM worker_applied WHERE applied_at < $1 ORDER BY applied_at LIMIT `+strconv.Itoa(pruneChunk)+`)`,
		before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune applied event ids: %w", err)
	}
	n, err := r.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune applied event ids: %w", err)
	}
	return n, nil
}
