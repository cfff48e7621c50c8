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

// setOffset saves a partition's next offset outside any batch; tests use
// it to set up a saved offset.
func (s *store) setOffset(ctx context.Context, topic string, partition int32, next int64) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO worker_offsets (consumer_group, topic, partition_id, next_offset) VALUES ($1, $2, $3, $4)
		ON CONFLICT (consumer_group, topic, partition_id) DO UPDATE SET next_offset = excluded.next_offset`,
		s.group, topic, partition, next)
	return err
}
