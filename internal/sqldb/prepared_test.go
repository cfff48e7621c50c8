package sqldb_test

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
)

func TestSplitRows(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		n    int
		want []int
	}{
		{0, nil},
		{1, []int{1}},
		{3, []int{1, 1, 1}},
		{4, []int{4}},
		{37, []int{32, 4, 1}},
		{500, []int{256, 32, 32, 32, 32, 32, 32, 32, 4, 4, 4, 4, 4}},
		{512, []int{256, 256}},
	} {
		got := sqldb.SplitRows(tt.n)
		if !slices.Equal(got, tt.want) {
			t.Errorf("SplitRows(%d) = %v, want %v", tt.n, got, tt.want)
		}
		sum := 0
		for _, c := range got {
			sum += c
		}
		if sum != tt.n {
			t.Errorf("SplitRows(%d) adds up to %d", tt.n, sum)
		}
	}
}

// TestPrepared runs statements through a PreparedTx on each engine, in
// several transactions, prepared and not, and with no Prepared at all;
// a rolled-back transaction leaves nothing behind.
func TestPrepared(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		if _, err := db.ExecContext(ctx, `CREATE TABLE kv (k TEXT PRIMARY KEY, v BIGINT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		const (
			insert = `INSERT INTO kv (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = kv.v + excluded.v`
			get    = `SELECT v FROM kv WHERE k = $1`
			count  = `SELECT COUNT(*) FROM kv`
		)
		p, err := db.Prepare(ctx, []string{insert, get, insert})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := p.Close(); err != nil {
				t.Error(err)
			}
		})
		for i, prep := range []*sqldb.Prepared{p, p, nil} {
			err := db.Tx(ctx, func(tx *sql.Tx) error {
				ptx := prep.Tx(tx)
				if ptx.Tx() != tx {
					return fmt.Errorf("Tx() is not the transaction")
				}
				for _, k := range []string{"a", "b"} {
					if _, err := ptx.ExecContext(ctx, insert, k, int64(i+1)); err != nil {
						return err
					}
				}
				rows, err := ptx.QueryContext(ctx, count)
				if err != nil {
					return err
				}
				defer rows.Close()
				if !rows.Next() {
					return fmt.Errorf("no count: %v", rows.Err())
				}
				var n int
				if err := rows.Scan(&n); err != nil || n != 2 {
					return fmt.Errorf("count %d, %v", n, err)
				}
				return rows.Close()
			})
			if err != nil {
				t.Fatalf("transaction %d: %v", i, err)
			}
		}
		rolledBack := errors.New("roll back")
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			if _, err := p.Tx(tx).ExecContext(ctx, insert, "a", int64(100)); err != nil {
				return err
			}
			return rolledBack
		})
		if !errors.Is(err, rolledBack) {
			t.Fatalf("rolled back transaction: %v", err)
		}
		err = db.Tx(ctx, func(tx *sql.Tx) error {
			var v int64
			if err := p.Tx(tx).QueryRowContext(ctx, get, "a").Scan(&v); err != nil {
				return err
			}
			if v != 1+2+3 {
				return fmt.Errorf("a = %d, want 6", v)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
