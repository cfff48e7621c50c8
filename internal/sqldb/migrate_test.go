package sqldb_test

import (
	"errors"
	"testing"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
)

// TestMigrateRefusesNewerSchema: a database migrated further than the
// steps given (by a newer version) is refused, and left as it is.
func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		steps := []string{`CREATE TABLE a (x INTEGER)`, `CREATE TABLE b (x INTEGER)`}
		if err := db.Migrate(ctx, "c", steps); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx, "c", steps); err != nil {
			t.Fatalf("the same steps again: %v", err)
		}
		err := db.Migrate(ctx, "c", steps[:1])
		if !errors.Is(err, sqldb.ErrNewerSchema) {
			t.Fatalf("older steps: err = %v, want %v", err, sqldb.ErrNewerSchema)
		}
		if err := db.Migrate(ctx, "other", steps[:0]); err != nil {
			t.Fatalf("another component: %v", err)
		}
	})
}
