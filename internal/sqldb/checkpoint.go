package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// A SQLite commit in WAL mode appends the pages it changed to the WAL; a
// checkpoint copies them into the database file and syncs both files. On
// a worker's tables at 100,000 players, a checkpoint after every batch of
// 500 answers (about 460 pages) took 15 to 25 ms, about half as long as
// applying the batch, mostly waiting for the syncs. So checkpoints run in
// the background, on a connection of their own, after commits
// (checkpointer), in SQLite's PASSIVE mode: never waiting for the writer,
// and never waited for by it.
//
// A WAL starts over from its beginning only when a transaction begins
// with every frame in it copied, which a background checkpoint racing a
// busy writer rarely leaves it. The writer's own checkpoint, at
// walBackstop pages, copies the frames the background has not reached yet
// and lets the next transaction start the WAL over. That commit waits for
// the syncs (about 100 ms was seen on a loaded 2-core machine, once every
// 4,000 pages, against 20 to 40 ms once every 1,000 pages before).

// walBackstop is the WAL size, in pages, at which a committing writer
// checkpoints itself. Tests lower it.
var walBackstop = 4000

// checkpointGap is the least time between two background checkpoints, so
// that a stream of small transactions does not sync at each.
const checkpointGap = 10 * time.Millisecond

// checkpointer checkpoints a SQLite database's WAL in the background,
// when kicked. Its methods are safe for concurrent use; a nil
// *checkpointer does nothing.
type checkpointer struct {
	db     *sql.DB // a connection of its own
	kicks  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
	err    error // close's
}

// startCheckpointer opens a connection to the SQLite file at path and
// starts checkpointing its WAL in the background.
func startCheckpointer(ctx context.Context, path string) (*checkpointer, error) {
	q := url.Values{}
	// A checkpoint that would wait for a reader copies what it can
	// instead; one that finds another checkpoint running gives up.
	q.Add("_pragma", "busy_timeout(0)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("checkpointer: %w", err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("checkpointer: %w", err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	c := &checkpointer{db: db, kicks: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	go c.run(runCtx)
	return c, nil
}

// kick asks for a checkpoint soon: the WAL has new frames.
func (c *checkpointer) kick() {
	if c == nil {
		return
	}
	select {
	case c.kicks <- struct{}{}:
	default: // one is pending already
	}
}

// run checkpoints after each kick, at most once per checkpointGap, until
// ctx ends.
func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	gap := time.NewTimer(checkpointGap)
	defer gap.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kicks:
		}
		// Errors (a busy database, a closing one) leave the frames to the
		// next checkpoint or to the writer's.
		var busy, logged, copied int64
		_ = c.db.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &logged, &copied)
		gap.Reset(checkpointGap)
		select {
		case <-ctx.Done():
			return
		case <-gap.C:
		}
	}
}

// close stops the checkpointer, waiting for a checkpoint under way, and
// closes its connection.
func (c *checkpointer) close() error {
	c.once.Do(func() {
		c.cancel()
		<-c.done
		c.err = c.db.Close()
	})
	return c.err
}
