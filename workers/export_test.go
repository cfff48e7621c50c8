package workers

import (
	"context"

	"github.com/cairnhq/cairn/internal/sqldb"
)

// Crash stops w's Run as a crash would: no drain, no commit.
func Crash(w *Worker) { w.crash() }

// SaveOffset saves a partition's next offset in the store, as a worker of
// group would.
func SaveOffset(ctx context.Context, db *sqldb.DB, group, topic string, partition int32, next int64) error {
	s, err := openStore(ctx, db, group)
	if err != nil {
		return err
	}
	return s.setOffset(ctx, topic, partition, next)
}

// SavedOffset returns a partition's saved offset, or -1.
func SavedOffset(ctx context.Context, db *sqldb.DB, group, topic string, partition int32) (int64, error) {
	return (&store{db: db, group: group}).offset(ctx, topic, partition)
}
