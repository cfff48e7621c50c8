// Package sqldb opens Cairn's SQL databases, SQLite or PostgreSQL, and runs
// their migrations. Cairn writes one SQL dialect for both: positional
// parameters ($1), ON CONFLICT, RETURNING, and types both engines accept
// (BIGINT, TEXT, BOOLEAN, BLOB/BYTEA chosen per engine by Migrate's callers
// where needed).
package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Engine names a database engine.
type Engine string

// The engines Cairn runs on.
const (
	SQLite   Engine = "sqlite"
	Postgres Engine = "postgres"
)

// DB is an open database. It is safe for concurrent use.
type DB struct {
	*sql.DB
	Engine Engine
	ckpt   *checkpointer // SQLite's; nil on PostgreSQL
}

// Supported says which database URLs Open accepts, for error messages.
const Supported = "postgres://… or postgresql://… (PostgreSQL), sqlite:PATH, file:PATH or a plain file path (SQLite)"

// CheckURL refuses a database URL Open would not know how to open: one
// with a scheme (mysql://…) that is neither PostgreSQL's nor SQLite's,
// which would otherwise be taken for a SQLite file's name. The error
// names the scheme, never the URL, which may hold a password.
func CheckURL(rawURL string) error {
	if rawURL == "" {
		return errors.New("empty database URL; want " + Supported)
	}
	scheme, _, ok := strings.Cut(rawURL, "://")
	if !ok || !validScheme(scheme) {
		return nil // a path, or sqlite:PATH, file:PATH
	}
	switch scheme {
	case "postgres", "postgresql", "sqlite", "file":
		return nil
	}
	return fmt.Errorf("unsupported database URL scheme %q; want %s", scheme, Supported)
}

// validScheme reports whether s is a URL scheme (RFC 3986: a letter, then
// letters, digits, "+", "-" or ".").
func validScheme(s string) bool {
	for i, r := range s {
		letter := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !letter && (i == 0 || !(r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return s != ""
}

// Open opens the database a URL names: postgres://… or postgresql://… for
// PostgreSQL; sqlite:PATH, file:PATH or a plain file path for SQLite (the
// file is created if missing). Other schemes are refused (see CheckURL).
// It checks the database answers.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	if err := CheckURL(rawURL); err != nil {
		return nil, err
	}
	var (
		db     *sql.DB
		engine Engine
		err    error
	)
	switch {
	case strings.HasPrefix(rawURL, "postgres://"), strings.HasPrefix(rawURL, "postgresql://"):
		engine = Postgres
		db, err = sql.Open("pgx", rawURL)
	default:
		engine = SQLite
		path := sqlitePath(rawURL)
		if path == "" {
			return nil, errors.New("database URL: empty SQLite path")
		}
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(ON)")
		// SQLite's default page cache is 2 MB; a worker's tables outgrow
		// it at a few thousand players, and every apply then reads and
		// writes pages from the file. 32 MiB, for its one connection,
		// which costs twice that: the allocator under modernc's SQLite
		// serves each cached page (4 KiB and a header) from an 8 KiB
		// slot. 64 MiB applied no faster at 100,000 players.
		q.Add("_pragma", "cache_size(-32768)")
		// A multi-row statement keeps a journal of the pages it changes,
		// to undo itself alone if it fails; past 64 KiB SQLite spills that
		// journal to a temporary file, and a batch of upserts on a large
		// table then writes each page it touches to disk once more. Kept
		// in memory, as are temporary tables and sorts.
		q.Add("_pragma", "temp_store(MEMORY)")
		// The WAL is checkpointed in the background (checkpointer), so
		// that no commit waits for pages to be copied and synced into the
		// database; the writer's own checkpoint, at walBackstop pages,
		// only copies what the background has not yet and lets the WAL
		// start over.
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", walBackstop))
		q.Set("_txlock", "immediate")
		db, err = sql.Open("sqlite", "file:"+path+"?"+q.Encode())
		if err == nil {
			// One writer at a time is SQLite's rule; one connection keeps
			// transactions from waiting on each other's locks.
			db.SetMaxOpenConns(1)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", engine, err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s database: %w", engine, redact(err, rawURL))
	}
	out := &DB{DB: db, Engine: engine}
	if engine == SQLite {
		c, err := startCheckpointer(ctx, sqlitePath(rawURL))
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open %s database: %w", engine, err)
		}
		out.ckpt = c
	}
	return out, nil
}

// sqlitePath is the file a SQLite URL names (Open checked it).
func sqlitePath(rawURL string) string {
	path := strings.TrimPrefix(strings.TrimPrefix(rawURL, "sqlite:"), "file:")
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	return path
}

// Close stops the background checkpointer, if any, and closes the
// database.
func (db *DB) Close() error {
	var err error
	if db.ckpt != nil {
		err = db.ckpt.close()
	}
	return errors.Join(err, db.DB.Close())
}

// redact keeps a password in the URL out of error messages.
func redact(err error, rawURL string) error {
	u, perr := url.Parse(rawURL)
	if perr != nil || u.User == nil {
		return err
	}
	if pw, ok := u.User.Password(); ok && pw != "" {
		return errors.New(strings.ReplaceAll(err.Error(), pw, "xxxxx"))
	}
	return err
}

// Migrate brings component's tables up to date: it runs, in order and each
// in its own transaction, the steps not yet recorded as applied. Steps are
// append-only: never edit or reorder a released step.
//
// Several processes may migrate one PostgreSQL database at once: they take
// turns on a session lock. (SQLite's writers always take turns.)
//
// A database that a newer version migrated further than steps reach is
// refused with ErrNewerSchema: its tables may mean something this version
// would write wrongly (say, counts kept another way).
func (db *DB) Migrate(ctx context.Context, component string, steps []string) error {
	if db.Engine == Postgres {
		conn, err := db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("migrate %s: %w", component, err)
		}
		defer conn.Close()
		const lock = `SELECT pg_advisory_lock(hashtext('cairn-migrations'))`
		if _, err := conn.ExecContext(ctx, lock); err != nil {
			return fmt.Errorf("migrate %s: lock: %w", component, err)
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock(hashtext('cairn-migrations'))`)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL,
		step BIGINT NOT NULL,
		PRIMARY KEY (component, step))`); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	var last int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(step), 0) FROM schema_migrations WHERE component = $1`,
		component).Scan(&last); err != nil {
		return fmt.Errorf("migrate %s: %w", component, err)
	}
	if last > int64(len(steps)) {
		return fmt.Errorf("migrate %s: %w (to step %d; this version knows %d): run that version or a newer one",
			component, ErrNewerSchema, last, len(steps))
	}
	for i, step := range steps {
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			var done bool
			if err := tx.QueryRowContext(ctx,
				`SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE component = $1 AND step = $2)`,
				component, i+1).Scan(&done); err != nil || done {
				return err
			}
			if _, err := tx.ExecContext(ctx, step); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, step) VALUES ($1, $2)`, component, i+1)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s step %d: %w", component, i+1, err)
		}
	}
	return nil
}

// ErrNewerSchema is returned by Migrate for a database a newer version
// has migrated.
var ErrNewerSchema = errors.New("the database was migrated by a newer version")

// Tx runs fn in a transaction and commits it if fn returns nil. A
// transaction that lost a race with another writer (serialization failure,
// deadlock, unique violation on PostgreSQL; busy on SQLite) is retried a few
// times; fn must be safe to run again.
func (db *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	var err error
	for attempt := range 5 {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt*attempt) * 10 * time.Millisecond)
			select {
			case <-ctx.Done():
				t.Stop()
				return errors.Join(err, ctx.Err())
			case <-t.C:
			}
		}
		err = db.tx(ctx, fn)
		if err == nil || !Retryable(err) {
			return err
		}
	}
	return err
}

func (db *DB) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	db.ckpt.kick()
	return nil
}

// Retryable reports whether err is a transient conflict between writers.
func Retryable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "23505": // serialization_failure, deadlock_detected, unique_violation
			return true
		}
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED:
			return true
		}
	}
	return false
}
