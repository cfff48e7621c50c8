package huntapp

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/hunt"
)

// benchPlayers are the hunt sizes the benchmarks compare: the costs
// should not depend on them.
var benchPlayers = []int{100, 100_000}

// benchClues is how many clues the benchmarks' hunt has, each worth 10
// points: enough that 100 players answering for a while do not all finish.
const benchClues = 100

// benchHunt is the benchmarks' hunt "h"; clue ci is answered by "ai".
func benchHunt() *huntv1.HuntCreated {
	h := testHunt("h", 0)
	h.Clues = nil
	for i := range benchClues {
		h.Clues = append(h.Clues, &huntv1.Clue{ClueId: fmt.Sprintf("c%d", i), Text: "t", Points: 10,
			Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: hunt.AnswerSHA256(fmt.Sprintf("a%d", i))}})
	}
	return h
}

// seedPosition is where seedHunt puts player i: a third on the first
// clue, a third on the last, a third finished.
func seedPosition(i int) int { return []int{0, benchClues - 1, benchClues}[i%3] }

// seedHunt creates hunt "h" (benchHunt) with players entrants p0…,
// written straight to the rows in multi-row statements rather than
// through the rules one event at a time, at seedPosition, the finishers
// at different times before the benchmarks' answers; every player is registered. It counts their ranks
// as an upgraded database's first batch would.
func seedHunt(b testing.TB, db *sqldb.DB, players int) {
	b.Helper()
	ctx := context.Background()
	if _, err := apply(ctx, db, inputs(benchHunt())); err != nil {
		b.Fatal(err)
	}
	joined := nanos(t0.Add(seedJoinedAfter))
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		var ents, names []any
		finished := 0
		for i := range players {
			id := benchPlayer(i)
			pos, completed, key := seedPosition(i), int64(0), int64(math.MaxInt64)
			if pos == benchClues {
				// Finished before the benchmarks' answers, half a
				// millisecond apart.
				completed = joined + int64(i)*5e5
				key = completed
				finished++
			}
			score := int64(10 * pos)
			ents = append(ents, "h", id, joined, pos, score, 0, int64(0), completed, key)
			names = append(names, id, "name "+id, joined)
		}
		if err := insertEntrants.exec(ctx, tx, db.Engine, ents); err != nil {
			return err
		}
		if err := upsertNames.exec(ctx, tx, db.Engine, names); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO hunt_counters (hunt_id, joined, finished, stamp) VALUES ('h', $1, $2, $3)
			ON CONFLICT (hunt_id) DO UPDATE SET joined = excluded.joined, finished = excluded.finished, stamp = excluded.stamp`,
			players, finished, newStamp()); err != nil {
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

// warmCache puts every entrant of hunt "h" in the entrant cache apply
// uses on db, as a worker that has applied the hunt for a while holds
// them.
func warmCache(b testing.TB, db *sqldb.DB) {
	b.Helper()
	c, _ := caches.LoadOrStore(db, newEntrantCache(DefaultCachedEntrants))
	warm(b, db, c.(*entrantCache))
}

// warm puts every entrant of hunt "h" in c.
func warm(b testing.TB, db *sqldb.DB, c *entrantCache) {
	b.Helper()
	ctx := context.Background()
	st := &hunt.State{Hunts: make(map[string]*hunt.Hunt)}
	meta := make(map[string]huntMeta)
	if err := loadHunts(ctx, db, st, []string{"h"}, meta); err != nil {
		b.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT `+entrantColumns+` FROM hunt_entrants WHERE hunt_id = 'h'`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	var all []hunt.Entrant
	for rows.Next() {
		e, err := scanEntrant(rows)
		if err != nil {
			b.Fatal(err)
		}
		all = append(all, *e)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
	c.take("h", meta["h"].stamp, nil, nil) // drops what the seed wrote past it
	c.keep("h", meta["h"].stamp, meta["h"].stamp, all, nil)
	if n := c.len(); n != len(all) {
		b.Fatalf("the cache holds %d entrants of %d", n, len(all))
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

// BenchmarkApplyAnswers measures events applied per second: batches of
// 500 answers, one transaction each, from random players of the hunt to
// their current clue, one in ten right (a correct answer moves the player
// on the leaderboard; on the last clue it finishes the hunt and ranks the
// player), received half a second apart. Finishers' answers are judged not
// current and change nothing. The hunt is seeded once per size and engine
// and played on across the benchmark's runs, with every entrant in the
// entrant cache (warmCache): a player's first answer after the worker
// starts also reads its row.
func BenchmarkApplyAnswers(b *testing.B) {
	for _, players := range benchPlayers {
		b.Run(fmt.Sprintf("players=%d", players), func(b *testing.B) {
			for _, engine := range sqldbtest.Engines {
				db := openDB(b, engine)
				seedHunt(b, db, players)
				warmCache(b, db)
				as := newAnswers(players, 1)
				b.Run(string(engine), func(b *testing.B) {
					ctx := context.Background()
					const batch = 500
					written := 0
					for n := 0; n < b.N; n += batch {
						b.StopTimer()
						evs := make([]*workers.Event, min(batch, b.N-n))
						for i := range evs {
							_, m, at := as.next()
							evs[i] = &workers.Event{EventID: fmt.Sprintf("a%d", as.seq), Offset: int64(as.seq), ReceivedAt: at, Message: m}
						}
						b.StartTimer()
						res, err := apply(ctx, db, evs)
						if err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						for _, d := range res.Derived {
							j, ok := d.Message.(*huntv1.AnswerJudged)
							if !ok {
								continue
							}
							var p int
							p = benchPlayerIndex(j.GetPlayerId())
							switch j.GetVerdict() {
							case huntv1.Verdict_VERDICT_CORRECT:
								as.pos[p]++
								written++
							case huntv1.Verdict_VERDICT_WRONG:
								written++
							}
						}
						b.StartTimer()
					}
					b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
					b.ReportMetric(float64(written)/float64(b.N), "writes/event")
				})
			}
		})
	}
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
			if _, err := readProgress(ctx, db, "h", benchPlayer(r.IntN(players))); err != nil {
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
			lb, err := readLeaderboard(ctx, db, "h", 10, benchPlayer(r.IntN(players)))
			if err != nil || len(lb.Top) != 10 || lb.Own == nil {
				b.Fatalf("leaderboard %+v, %v", lb, err)
			}
		}
	})
}

// answers makes the benchmarks' answers: each from a random player to its
// current clue as far as the benchmark knows (pos), one in ten right,
// received half a second after the one before.
type answers struct {
	r   *rand.Rand
	pos []int // each player's clue; benchClues once finished
	seq int   // the answers made
}

func newAnswers(players int, seed uint64) *answers {
	a := &answers{r: rand.New(rand.NewPCG(uint64(players), seed)), pos: make([]int, players)}
	for i := range a.pos {
		a.pos[i] = seedPosition(i)
	}
	return a
}

// next makes an answer: its player, the answer and when it is received.
func (a *answers) next() (int, *huntv1.AnswerSubmitted, time.Time) {
	a.seq++
	p := a.r.IntN(len(a.pos))
	clue, text := min(a.pos[p], benchClues-1), "wrong"
	if a.r.IntN(10) == 0 {
		text = fmt.Sprintf("a%d", clue)
	}
	at := t0.Add(2*time.Minute + time.Duration(a.seq)*500*time.Millisecond)
	return p, &huntv1.AnswerSubmitted{HuntId: "h", PlayerId: benchPlayer(p), ClueId: fmt.Sprintf("c%d", clue),
		Answer: &huntv1.AnswerSubmitted_Text{Text: text}, SubmittedAt: timestamppb.New(at)}, at
}

// benchPlayer is the id of the benchmarks' player i: a UUID, as the
// schemas require of player ids, random in its leading digits (as a
// version 4 UUID is) and ending in i.
func benchPlayer(i int) string {
	r := rand.New(rand.NewPCG(uint64(i), 7))
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, r.Uint32()&0xfff, 0x8000|r.Uint32()&0x3fff, i)
}

// benchPlayerIndex is the i of benchPlayer(i).
func benchPlayerIndex(id string) int {
	var i int
	fmt.Sscanf(id[len(id)-12:], "%x", &i)
	return i
}
