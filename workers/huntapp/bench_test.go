package huntapp

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/workers"
)

// benchPlayers are the hunt sizes the benchmarks compare: the costs
// should not depend on them.
var benchPlayers = []int{100, 100_000}

// seedHunt creates hunt "h" (two clues, 10 and 20 points) with players
// entrants p0…, written straight to the rows in multi-row statements
// rather than through the rules one event at a time. A third of them are
// on the second clue with 10 points, a third completed with 30 at
// different times, and every player is registered.
func seedHunt(b testing.TB, db *sqldb.DB, players int) {
	b.Helper()
	ctx := context.Background()
	if _, err := apply(ctx, db, inputs(testHunt("h", 0))); err != nil {
		b.Fatal(err)
	}
	joined := nanos(t0.Add(seedJoinedAfter))
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		var ents, names []any
		finished := 0
		for i := range players {
			id := fmt.Sprintf("p%d", i)
			pos, score, completed, key := 0, int64(0), int64(0), int64(math.MaxInt64)
			switch i % 3 {
			case 1:
				pos, score = 1, 10
			case 2:
				pos, score = 2, 30
				completed = joined + int64(i)*1e9
				key = completed
				finished++
			}
			ents = append(ents, "h", id, joined, pos, score, 0, int64(0), completed, key)
			names = append(names, id, "name "+id, joined)
		}
		if err := upsert(ctx, tx, db.Engine, `INSERT INTO hunt_entrants (hunt_id, player_id, joined_at, position, score, wrong_streak, last_wrong_at, completed_at, finish_key) VALUES `, ``, 9, ents); err != nil {
			return err
		}
		if err := upsert(ctx, tx, db.Engine, `INSERT INTO hunt_names (player_id, display_name, registered_at) VALUES `, ``, 3, names); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO hunt_counters (hunt_id, joined, finished) VALUES ('h', $1, $2)
			ON CONFLICT (hunt_id) DO UPDATE SET joined = excluded.joined, finished = excluded.finished`, players, finished); err != nil {
			return err
		}
		return rankHunt(ctx, tx, db.Engine, "h")
	})
	if err != nil {
		b.Fatalf("seed %d players: %v", players, err)
	}
	// Fold the seed into the database file (SQLite) or its statistics
	// (PostgreSQL) before measuring, rather than in the first batches.
	after := `ANALYZE`
	if db.Engine == sqldb.SQLite {
		after = `PRAGMA wal_checkpoint(TRUNCATE)`
	}
	if _, err := db.ExecContext(ctx, after); err != nil {
		b.Fatal(err)
	}
}

// seedJoinedAfter is when the seeded players joined, after the hunt's start.
const seedJoinedAfter = time.Minute

// forEachSize runs bench as players=N/engine on a hunt seeded once per
// size and engine.
func forEachSize(b *testing.B, bench func(b *testing.B, db *sqldb.DB, players int)) {
	for _, n := range benchPlayers {
		b.Run(fmt.Sprintf("players=%d", n), func(b *testing.B) {
			for _, engine := range sqldbtest.Engines {
				db := openDB(b, engine)
				seedHunt(b, db, n)
				b.Run(string(engine), func(b *testing.B) { bench(b, db, n) })
			}
		})
	}
}

// BenchmarkApplyAnswers measures events applied per second: batches of 500
// answers from random players of the hunt, one transaction each, a tenth
// of them right.
func BenchmarkApplyAnswers(b *testing.B) {
	forEachSize(b, func(b *testing.B, db *sqldb.DB, players int) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(uint64(players), 1))
		const batch = 500
		seq := 0
		b.ResetTimer()
		for n := 0; n < b.N; n += batch {
			evs := make([]*workers.Event, min(batch, b.N-n))
			for i := range evs {
				seq++
				p := fmt.Sprintf("p%d", r.IntN(players))
				text, clue := "wrong", []string{"c1", "c2"}[r.IntN(2)]
				if r.IntN(10) == 0 {
					text = map[string]string{"c1": "a", "c2": "b"}[clue]
				}
				evs[i] = &workers.Event{EventID: fmt.Sprintf("a%d", seq), Offset: int64(seq),
					Message: ans("h", p, clue, text, 2+seq/2000%5000)}
			}
			if _, err := apply(ctx, db, evs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkGetHunt measures the summary read by GetHunt.
func BenchmarkGetHunt(b *testing.B) {
	forEachSize(b, func(b *testing.B, db *sqldb.DB, players int) {
		ctx := context.Background()
		for b.Loop() {
			sum, err := readSummary(ctx, db, "h")
			if err != nil || sum.Players != players {
				b.Fatalf("summary %+v, %v", sum, err)
			}
		}
	})
}

// BenchmarkGetPlayerProgress measures the read by GetPlayerProgress of a
// random player.
func BenchmarkGetPlayerProgress(b *testing.B) {
	forEachSize(b, func(b *testing.B, db *sqldb.DB, players int) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(2, 2))
		for b.Loop() {
			if _, err := readProgress(ctx, db, "h", fmt.Sprintf("p%d", r.IntN(players))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkGetLeaderboard measures the read by GetLeaderboard: the top 10
// and a random player's own standing.
func BenchmarkGetLeaderboard(b *testing.B) {
	forEachSize(b, func(b *testing.B, db *sqldb.DB, players int) {
		ctx := context.Background()
		r := rand.New(rand.NewPCG(3, 3))
		for b.Loop() {
			lb, err := readLeaderboard(ctx, db, "h", 10, fmt.Sprintf("p%d", r.IntN(players)))
			if err != nil || len(lb.Top) != 10 || lb.Own == nil {
				b.Fatalf("leaderboard %+v, %v", lb, err)
			}
		}
	})
}
