package sqldb_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/sqldb"
)

// openSQLite opens a SQLite database in a temporary directory, with a
// table of blobs, and returns it and its file's path.
func openSQLite(t *testing.T) (*sqldb.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ckpt.db")
	db, err := sqldb.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE blobs (id INTEGER PRIMARY KEY, b BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	return db, path
}

// writeBlobs commits n rows of size bytes each, in one transaction.
func writeBlobs(t *testing.T, db *sqldb.DB, n, size int) {
	t.Helper()
	err := db.Tx(t.Context(), func(tx *sql.Tx) error {
		for range n {
			if _, err := tx.ExecContext(t.Context(), `INSERT INTO blobs (b) VALUES ($1)`, make([]byte, size)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A commit's pages reach the database file without any further write:
// the background checkpoint copies them from the WAL.
func TestSQLiteCheckpointsInBackground(t *testing.T) {
	db, path := openSQLite(t)
	before := fileSize(t, path)
	const rows, size = 64, 16 << 10 // 1 MiB: far below the writer's own checkpoint
	writeBlobs(t, db, rows, size)
	deadline := time.Now().Add(30 * time.Second)
	for fileSize(t, path) < before+rows*size {
		if time.Now().After(deadline) {
			t.Fatalf("database file %d bytes after a commit of %d: its WAL was not checkpointed", fileSize(t, path), rows*size)
		}
		time.Sleep(10 * time.Millisecond)
	}
	var n int
	if err := db.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM blobs`).Scan(&n); err != nil || n != rows {
		t.Fatalf("%d rows, %v; want %d", n, err, rows)
	}
}

// Under a stream of commits, the WAL starts over once it reaches the
// writer's own checkpoint, rather than growing with what was written.
func TestSQLiteWALStartsOver(t *testing.T) {
	const backstop = 64 // pages of 4 KiB
	defer sqldb.SetWALBackstop(backstop)()
	db, path := openSQLite(t)
	for range 40 { // 40 × 8 pages: five times the backstop
		writeBlobs(t, db, 2, 16<<10)
	}
	if wal := fileSize(t, path+"-wal"); wal > 3*backstop*4096 {
		t.Errorf("WAL is %d bytes after writing %d: it did not start over at %d pages", wal, 40*2*16<<10, backstop)
	}
}

// Close stops the checkpointer and closes both connections; closing
// again is harmless.
func TestSQLiteCloseStopsCheckpointer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "close.db")
	db, err := sqldb.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(t.Context(), `CREATE TABLE t (x INTEGER)`); err != nil {
		t.Fatal(err)
	}
	if err := db.Tx(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), `INSERT INTO t VALUES (1)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// Reopened, the committed row is there.
	db2, err := sqldb.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	var n int
	if err := db2.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM t`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%d rows, %v", n, err)
	}
}
