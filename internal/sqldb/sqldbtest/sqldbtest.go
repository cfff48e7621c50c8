// Package sqldbtest gives tests a fresh database on each engine Cairn runs
// on: a SQLite file in the test's temporary directory, and a PostgreSQL
// schema of its own on the server named by CAIRN_TEST_POSTGRES_URL
// (default postgres://postgres@127.0.0.1:5432/test), dropped afterwards.
package sqldbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/cairnhq/cairn/internal/sqldb"
)

// Engines lists the engines every store test runs on.
var Engines = []sqldb.Engine{sqldb.SQLite, sqldb.Postgres}

// Each runs test on every engine, as parallel subtests named after the
// engines.
func Each(t *testing.T, test func(t *testing.T, engine sqldb.Engine)) {
	t.Helper()
	for _, engine := range Engines {
		t.Run(string(engine), func(t *testing.T) {
			t.Parallel()
			test(t, engine)
		})
	}
}

// PostgresURL is the server tests use.
func PostgresURL() string {
	if u := os.Getenv("CAIRN_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// Open returns an empty database on engine, closed and removed when the
// test ends. A PostgreSQL server that does not answer fails the test: the
// store must be tested on both engines.
func Open(t testing.TB, engine sqldb.Engine) *sqldb.DB {
	t.Helper()
	ctx := context.Background()
	if engine == sqldb.SQLite {
		db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "test.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("PostgreSQL at %s: %v (start it, or set CAIRN_TEST_POSTGRES_URL)", PostgresURL(), err)
	}
	u, err := url.Parse(PostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := sqldb.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.Close()
		cleanup, err := sql.Open("pgx", PostgresURL())
		if err != nil {
			return
		}
		defer cleanup.Close()
		_, _ = cleanup.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	return db
}
