package workers

import (
	"context"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/wire"
)

// Crash stops w's Run at once, as a crash would: batches in flight are
// rolled back, nothing is drained or committed. Run then returns.
func Crash(w *Worker) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.kill != nil {
		w.kill()
	}
}

// SaveOffset saves a partition's next offset in the store, as a worker of
// group running app would.
func SaveOffset(ctx context.Context, db *sqldb.DB, app App, group, topic string, partition int32, next int64) error {
	s, err := openStore(ctx, db, group, app)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO worker_offsets (consumer_group, topic, partition_id, next_offset) VALUES ($1, $2, $3, $4)
		ON CONFLICT (consumer_group, topic, partition_id) DO UPDATE SET next_offset = excluded.next_offset`,
		s.group, topic, partition, next)
	return err
}

// SavedOffset returns a partition's saved offset, or -1.
func SavedOffset(ctx context.Context, db *sqldb.DB, group, topic string, partition int32) (int64, error) {
	return (&store{db: db, group: group}).offset(ctx, topic, partition)
}

// DerivedEventID is the id of the derived event of type kind caused by the
// event cause.
func DerivedEventID(cause, kind string) string { return wire.DerivedEventID(cause, kind) }
