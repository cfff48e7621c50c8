package huntapp

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/workers/hunt"
)

// A player's rank is counted, not sorted, and the count costs the same for
// any number of players. The rules order a hunt's entrants by score
// (highest first), then finishers before the others, earlier finish first,
// then by player id (hunt.Hunt.Ahead). The entrants fall into groups that
// share a score and whether they finished; groups are ordered as wholes,
// and within a group the order is that of a byte key: the finishing time
// for finishers, the player id for the others.
//
// hunt_ranks holds, for each group, the number of its entrants (depth 0)
// and the number whose key starts with each of its prefixes (depth 1, 2, …;
// rankPrefixes): a trie of counts. The entrants placed before e are the
// groups before e's (one row each), then, at each depth, the siblings of
// e's prefix that sort before it, then those whose key equals e's,
// ordered by the leaderboard index of hunt_entrants: the finishers in the
// same nanosecond, or the entrants whose ids share e's first rankKeyLen
// key bytes.
//
// A finisher's key adds one byte a depth: at most 255 siblings each, and
// it is counted once, when the entrant finishes. An unfinished entrant's
// key adds two: its counts move to another group at every correct answer,
// and two bytes a depth halve the counts a move writes, 2 × (rankKeyLen/2
// + 1) at most. Its siblings are the two-byte pieces of other ids: for the
// UUIDs the schemas require (22 characters), at most 22² = 484 a depth.
//
// An unfinished entrant's key is cut to rankKeyLen bytes, so a move
// writes 2 × 4 counts. The first six characters of a UUID tell 16⁶
// (16.7 million) ids apart, so below millions of entrants an entrant
// shares its cut key with few others, and those are counted on the
// leaderboard index. Each depth more would add two counts to every move
// (a count a move writes is a random row of a large table, and most of
// the cost of a correct answer at 100,000 players).

// rankKeyLen bounds the key bytes the trie counts by.
const rankKeyLen = 6

// rankGroup is a score and whether its entrants finished; groups place
// by score, highest first, and finishers first.
type rankGroup struct {
	score      int64
	unfinished int64 // 0 for finishers, 1 for the others
}

// rankKey returns e's group and its key in it: the finishing time as 8
// bytes that sort as the time does, or the player id escaped so that no
// key is a prefix of another (0x00 → 0x01 0x01, 0x01 → 0x01 0x02, then a
// 0x00 terminator), cut to rankKeyLen bytes. Keys sort as the rules order
// the group's entrants, ties aside.
func rankKey(e *hunt.Entrant) (rankGroup, []byte) { return rankKeyCut(e, rankKeyLen) }

// rankKeyCut is rankKey with an unfinished entrant's key cut to n bytes.
func rankKeyCut(e *hunt.Entrant, n int) (rankGroup, []byte) {
	fk := finishKey(e)
	if fk != math.MaxInt64 {
		return rankGroup{score: int64(e.Score)}, binary.BigEndian.AppendUint64(nil, uint64(fk)^1<<63)
	}
	k := make([]byte, 0, n+1)
	for i := 0; i < len(e.PlayerID) && len(k) < n; i++ {
		switch c := e.PlayerID[i]; c {
		case 0, 1:
			k = append(k, 1, c+1)
		default:
			k = append(k, c)
		}
	}
	k = append(k, 0)
	return rankGroup{score: int64(e.Score), unfinished: 1}, k[:min(len(k), n)]
}

// rankPrefixes returns the prefixes of k, group g's key, counted at depths
// 1, 2, …: one every byte of a finisher's key, one every two of the
// others', the last one k whole. Each depth's prefixes extend the ones
// before; as keys are never prefixes of one another, the prefixes at a
// depth that sort before k's and extend the same prefix at the depth
// above are those of the keys that sort before k and share that prefix.
func rankPrefixes(g rankGroup, k []byte) [][]byte {
	stride := 1
	if g.unfinished == 1 {
		stride = 2
	}
	out := make([][]byte, 0, (len(k)+stride-1)/stride)
	for end := stride; end < len(k); end += stride {
		out = append(out, k[:end])
	}
	return append(out, k)
}

// rankNode is one count of hunt_ranks.
type rankNode struct {
	hunt   string
	group  rankGroup
	depth  int
	prefix string // bytes
}

// rankDeltas are changes to hunt_ranks, summed.
type rankDeltas map[rankNode]int64

// add counts e (n = 1) or uncounts it (n = -1) in hunt huntID.
func (d rankDeltas) add(huntID string, e *hunt.Entrant, n int64) {
	g, k := rankKey(e)
	d.addKey(huntID, g, k, n)
}

// addKey adds n to the counts of key k of group g.
func (d rankDeltas) addKey(huntID string, g rankGroup, k []byte, n int64) {
	d[rankNode{huntID, g, 0, ""}] += n
	for i, p := range rankPrefixes(g, k) {
		d[rankNode{huntID, g, i + 1, string(p)}] += n
	}
}

// upsertRanks adds to counts of hunt_ranks.
var upsertRanks = rowInsert{
	head:  `INSERT INTO hunt_ranks (hunt_id, depth, score, unfinished, prefix, entrants)`,
	types: []string{"text", "bigint", "bigint", "bigint", "bytea", "bigint"},
	tail:  `ON CONFLICT (hunt_id, depth, score, unfinished, prefix) DO UPDATE SET entrants = hunt_ranks.entrants + excluded.entrants`,
}

// save writes the non-zero deltas, each count once, and deletes the
// counts they bring to zero, so that the table holds as many rows as the
// hunt's entrants need however often they change places (a change of
// place leaves the deepest counts of the old place at zero). On SQLite,
// the trigger hunt_ranks_drop_empty deletes them, as the upsert brings
// them to zero: a DELETE of its own looked each one up again (a tenth of
// an answer's apply at 100,000 players).
func (d rankDeltas) save(ctx context.Context, tx execer, engine sqldb.Engine) error {
	if engine == sqldb.Postgres {
		return d.savePostgres(ctx, tx)
	}
	args := make([]any, 0, 6*len(d))
	for n, v := range d {
		if v != 0 {
			args = append(args, n.hunt, int64(n.depth), n.group.score, n.group.unfinished, []byte(n.prefix), v)
		}
	}
	if err := upsertRanks.exec(ctx, tx, engine, args); err != nil {
		return fmt.Errorf("save ranks: %w", err)
	}
	return nil
}

// saveRanksSQL applies deltas to hunt_ranks on PostgreSQL in one
// statement: it deletes the counts a negative delta brings to zero,
// lowers the others, and adds the positive deltas, inserting counts that
// are missing. Each count is written once (a count updated and then
// deleted would leave PostgreSQL a dead row version more to clean up), and
// the text is the same for any number of deltas.
const saveRanksSQL = `WITH k AS (SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bytea[], $6::bigint[])
		AS k (hunt_id, depth, score, unfinished, prefix, delta)),
	dropped AS (DELETE FROM hunt_ranks r USING k
		WHERE k.delta < 0 AND r.hunt_id = k.hunt_id AND r.depth = k.depth AND r.score = k.score
			AND r.unfinished = k.unfinished AND r.prefix = k.prefix AND r.entrants + k.delta = 0),
	lowered AS (UPDATE hunt_ranks r SET entrants = r.entrants + k.delta FROM k
		WHERE k.delta < 0 AND r.hunt_id = k.hunt_id AND r.depth = k.depth AND r.score = k.score
			AND r.unfinished = k.unfinished AND r.prefix = k.prefix AND r.entrants + k.delta <> 0)
INSERT INTO hunt_ranks (hunt_id, depth, score, unfinished, prefix, entrants)
SELECT hunt_id, depth, score, unfinished, prefix, delta FROM k WHERE delta > 0
ON CONFLICT (hunt_id, depth, score, unfinished, prefix) DO UPDATE SET entrants = hunt_ranks.entrants + excluded.entrants`

// savePostgres writes the non-zero deltas with saveRanksSQL.
func (d rankDeltas) savePostgres(ctx context.Context, tx execer) error {
	var (
		hunts                           []string
		depths, scores, unfinished, dts []int64
		prefixes                        [][]byte
	)
	for n, v := range d {
		if v == 0 {
			continue
		}
		hunts, depths, scores, unfinished = append(hunts, n.hunt), append(depths, int64(n.depth)), append(scores, n.group.score), append(unfinished, n.group.unfinished)
		prefixes, dts = append(prefixes, []byte(n.prefix)), append(dts, v)
	}
	if len(hunts) == 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, saveRanksSQL, hunts, depths, scores, unfinished, prefixes, dts); err != nil {
		return fmt.Errorf("save %d rank counts: %w", len(hunts), err)
	}
	return nil
}

// rankQuery asks how many entrants of a hunt place before e.
type rankQuery struct {
	hunt string
	e    hunt.Entrant
}

// countAhead counts the entrants of huntID that place before e, as the
// rows hold them: the counts of the groups before e's, of the siblings
// before e's prefix at each depth, and the entrants tied with e's key.
func countAhead(ctx context.Context, q querier, engine sqldb.Engine, huntID string, e *hunt.Entrant) (int, error) {
	n, err := countsAhead(ctx, q, engine, []rankQuery{{hunt: huntID, e: *e}})
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

// countsAhead answers several rank queries: on PostgreSQL in one
// statement whose text never changes (countsAheadPostgres), on SQLite one
// by one (its parser numbers $N marks in time quadratic in their count).
func countsAhead(ctx context.Context, q querier, engine sqldb.Engine, qs []rankQuery) ([]int, error) {
	if engine == sqldb.Postgres {
		return countsAheadPostgres(ctx, q, qs)
	}
	out := make([]int, 0, len(qs))
	for _, rq := range qs {
		var sb strings.Builder
		var args []any
		sb.WriteString("SELECT ")
		countAheadExpr(&sb, &args, engine, rq.hunt, &rq.e)
		var n int64
		if err := q.QueryRowContext(ctx, sb.String(), args...).Scan(&n); err != nil {
			return nil, fmt.Errorf("rank player %s: %w", rq.e.PlayerID, err)
		}
		out = append(out, int(n))
	}
	return out, nil
}

// countAheadExpr writes to sb an expression counting the entrants of
// huntID placed before e, adding its arguments to args. The trie's ranges
// are a table of values, each counted by a correlated subquery on the
// primary key: one index scan to plan, which both engines run once per
// range, whatever the parameters (PostgreSQL's generic plan for a prepared
// statement would otherwise be free to hash-join the whole trie).
func countAheadExpr(sb *strings.Builder, args *[]any, engine sqldb.Engine, huntID string, e *hunt.Entrant) {
	blob := "BLOB"
	if engine == sqldb.Postgres {
		blob = "BYTEA"
	}
	arg := func(v any) string {
		*args = append(*args, v)
		return "$" + strconv.Itoa(len(*args))
	}
	g, k := rankKey(e)
	h, sc, u := arg(huntID), arg(g.score), arg(g.unfinished)
	fmt.Fprintf(sb, `COALESCE((SELECT SUM(entrants) FROM hunt_ranks WHERE hunt_id = %[1]s AND depth = 0 AND score > %[2]s), 0) +
		COALESCE((SELECT SUM(entrants) FROM hunt_ranks WHERE hunt_id = %[1]s AND depth = 0 AND score = %[2]s AND unfinished < %[3]s), 0) +
		COALESCE((SELECT SUM((SELECT SUM(r.entrants) FROM hunt_ranks r WHERE r.hunt_id = %[1]s AND r.depth = v.column1
			AND r.score = %[2]s AND r.unfinished = %[3]s AND r.prefix >= v.column2 AND r.prefix < v.column3)) FROM (VALUES `, h, sc, u)
	above := k[:0]
	for i, p := range rankPrefixes(g, k) {
		if i > 0 {
			sb.WriteString(", ")
		}
		// The prefixes at depth i + 1 that extend the one above and sort
		// before k's.
		fmt.Fprintf(sb, "(%d, CAST(%s AS %s), CAST(%s AS %s))", i+1, arg(above), blob, arg(p), blob)
		above = p
	}
	sb.WriteString(`) AS v), 0)`)
	// Ties on the key, ordered by player id on the leaderboard index.
	const ties = ` + (SELECT COUNT(*) FROM hunt_entrants WHERE hunt_id = %s AND score = %s AND finish_key = %s AND player_id %s %s AND player_id < %s)`
	switch {
	case g.unfinished == 0:
		fmt.Fprintf(sb, ties, h, sc, arg(finishKey(e)), ">=", arg(""), arg(e.PlayerID))
	case k[len(k)-1] != 0: // cut: other ids may share the key
		from, op := idsFrom(k)
		fmt.Fprintf(sb, ties, h, sc, arg(int64(math.MaxInt64)), op, arg(from), arg(e.PlayerID))
	}
}

// countsAheadSQL counts the entrants placed before each of a set of
// queries (q), as countAheadExpr does for one: the groups placed before,
// the trie's ranges (v: for query i, the counts at depth whose prefix is
// in [lo, hi)), and the ties on the key (t: for query i, the entrants of
// its score and finish_key whose id is from from_id, not included when
// strict, up to its own). Each count is a correlated subquery on a primary
// key or the leaderboard index. The text is the same for any number of
// queries, so PostgreSQL parses it once per connection.
const countsAheadSQL = `WITH q AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
		AS q (i, hunt_id, score, unfinished, player_id)),
	v AS (SELECT * FROM unnest($6::bigint[], $7::bigint[], $8::bytea[], $9::bytea[]) AS v (i, depth, lo, hi)),
	t AS (SELECT * FROM unnest($10::bigint[], $11::bigint[], $12::text[], $13::bool[]) AS t (i, finish_key, from_id, strict))
SELECT CAST(
	COALESCE((SELECT SUM(r.entrants) FROM hunt_ranks r WHERE r.hunt_id = q.hunt_id AND r.depth = 0 AND r.score > q.score), 0) +
	COALESCE((SELECT SUM(r.entrants) FROM hunt_ranks r WHERE r.hunt_id = q.hunt_id AND r.depth = 0 AND r.score = q.score
		AND r.unfinished < q.unfinished), 0) +
	COALESCE((SELECT SUM((SELECT SUM(r.entrants) FROM hunt_ranks r WHERE r.hunt_id = q.hunt_id AND r.depth = v.depth
		AND r.score = q.score AND r.unfinished = q.unfinished AND r.prefix >= v.lo AND r.prefix < v.hi)) FROM v WHERE v.i = q.i), 0) +
	COALESCE((SELECT SUM((SELECT COUNT(*) FROM hunt_entrants e WHERE e.hunt_id = q.hunt_id AND e.score = q.score
		AND e.finish_key = t.finish_key AND e.player_id >= t.from_id AND e.player_id < q.player_id
		AND NOT (t.strict AND e.player_id = t.from_id))) FROM t WHERE t.i = q.i), 0) AS BIGINT)
FROM q ORDER BY q.i`

// countsAheadPostgres answers qs in one statement, countsAheadSQL.
func countsAheadPostgres(ctx context.Context, db querier, qs []rankQuery) ([]int, error) {
	var (
		qi, qScore, qUnfinished []int64
		qHunt, qPlayer          []string
		vi, vDepth              []int64
		vLo, vHi                [][]byte
		ti, tFinish             []int64
		tFrom                   []string
		tStrict                 []bool
	)
	for i, rq := range qs {
		g, k := rankKey(&rq.e)
		qi, qHunt, qScore, qUnfinished, qPlayer = append(qi, int64(i)), append(qHunt, rq.hunt), append(qScore, g.score),
			append(qUnfinished, g.unfinished), append(qPlayer, rq.e.PlayerID)
		above := k[:0]
		for d, p := range rankPrefixes(g, k) {
			vi, vDepth, vLo, vHi = append(vi, int64(i)), append(vDepth, int64(d+1)), append(vLo, above), append(vHi, p)
			above = p
		}
		switch {
		case g.unfinished == 0:
			ti, tFinish, tFrom, tStrict = append(ti, int64(i)), append(tFinish, finishKey(&rq.e)), append(tFrom, ""), append(tStrict, false)
		case k[len(k)-1] != 0: // cut: other ids may share the key
			from, op := idsFrom(k)
			ti, tFinish, tFrom, tStrict = append(ti, int64(i)), append(tFinish, int64(math.MaxInt64)), append(tFrom, from), append(tStrict, op == ">")
		}
	}
	rows, err := db.QueryContext(ctx, countsAheadSQL, qi, qHunt, qScore, qUnfinished, qPlayer, vi, vDepth, vLo, vHi, ti, tFinish, tFrom, tStrict)
	if err != nil {
		return nil, fmt.Errorf("rank %d players: %w", len(qs), err)
	}
	defer rows.Close()
	out := make([]int, 0, len(qs))
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("rank %d players: %w", len(qs), err)
		}
		out = append(out, int(n))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rank %d players: %w", len(qs), err)
	}
	if len(out) != len(qs) {
		return nil, fmt.Errorf("rank %d players: %d counts", len(qs), len(out))
	}
	return out, nil
}

// A finisher's rank is asked once, when it finishes, and placing it on
// the trie reads up to 255 counts at each of its key's eight bytes. Yet
// finishers arrive mostly in the order of their finishing times, so few
// of those in its group are placed at or after it: the entrants placed
// before a finisher are the groups before its group, and its group's
// count less those at or after it, counted on the leaderboard index up to
// finishersAfterLimit (beyond that, the trie counts: a replayed old event
// costs no more than a bounded count).

// finishersAfterLimit is how many finishers placed at or after a
// finisher are counted on the leaderboard index before the trie is asked
// instead.
const finishersAfterLimit = 256

// countsAheadFinished answers rank queries about finishers (any other
// query is counted on the trie) as countsAhead does, with at most limit
// entrants of the leaderboard index read for each.
func countsAheadFinished(ctx context.Context, q querier, engine sqldb.Engine, qs []rankQuery, limit int) ([]int, error) {
	out := make([]int, len(qs))
	var finishers []rankQuery
	var rest []rankQuery
	var finishersAt, restAt []int
	for i, rq := range qs {
		if finishKey(&rq.e) == math.MaxInt64 {
			rest, restAt = append(rest, rq), append(restAt, i)
		} else {
			finishers, finishersAt = append(finishers, rq), append(finishersAt, i)
		}
	}
	groups, after, err := finishersAhead(ctx, q, engine, finishers, limit)
	if err != nil {
		return nil, err
	}
	for j, i := range finishersAt {
		if after[j] >= int64(limit) {
			rest, restAt = append(rest, qs[i]), append(restAt, i)
			continue
		}
		out[i] = int(groups[j] - after[j])
	}
	if len(rest) == 0 {
		return out, nil
	}
	counts, err := countsAhead(ctx, q, engine, rest)
	if err != nil {
		return nil, err
	}
	for j, i := range restAt {
		out[i] = counts[j]
	}
	return out, nil
}

// finishersAhead returns, for each finisher of qs, the entrants of the
// groups up to its own (the groups of a higher score, and its own group
// of finishers), and, up to limit, the finishers of its group placed at
// or after it (itself included when its row says it finished): on SQLite
// one statement per finisher, on PostgreSQL one for all
// (finishersAheadPostgres).
func finishersAhead(ctx context.Context, q querier, engine sqldb.Engine, qs []rankQuery, limit int) (groups, after []int64, err error) {
	groups, after = make([]int64, len(qs)), make([]int64, len(qs))
	if len(qs) == 0 {
		return groups, after, nil
	}
	if engine == sqldb.SQLite {
		for i, rq := range qs {
			err := q.QueryRowContext(ctx, finishersAheadSQLite(limit), rq.hunt, int64(rq.e.Score), finishKey(&rq.e), rq.e.PlayerID).Scan(&groups[i], &after[i])
			if err != nil {
				return nil, nil, fmt.Errorf("rank finisher %s: %w", rq.e.PlayerID, err)
			}
		}
		return groups, after, nil
	}
	idx, scores, keys := make([]int64, len(qs)), make([]int64, len(qs)), make([]int64, len(qs))
	hunts, players := make([]string, len(qs)), make([]string, len(qs))
	for i, rq := range qs {
		idx[i], hunts[i], scores[i], keys[i], players[i] = int64(i), rq.hunt, int64(rq.e.Score), finishKey(&rq.e), rq.e.PlayerID
	}
	rows, err := q.QueryContext(ctx, finishersAheadPostgres, idx, hunts, scores, keys, players, int64(limit))
	if err != nil {
		return nil, nil, fmt.Errorf("rank %d finishers: %w", len(qs), err)
	}
	defer rows.Close()
	n := 0
	for ; rows.Next(); n++ {
		if n >= len(qs) {
			return nil, nil, fmt.Errorf("rank %d finishers: too many rows", len(qs))
		}
		if err := rows.Scan(&groups[n], &after[n]); err != nil {
			return nil, nil, fmt.Errorf("rank %d finishers: %w", len(qs), err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("rank %d finishers: %w", len(qs), err)
	}
	if n != len(qs) {
		return nil, nil, fmt.Errorf("rank %d finishers: %d rows", len(qs), n)
	}
	return groups, after, nil
}

// unfinishedKey is the finishing key of the entrants who have not
// finished, in SQL.
var unfinishedKey = strconv.FormatInt(math.MaxInt64, 10)

// finishersAheadSQLite counts for one finisher (hunt $1, score $2,
// finishing key $3, player $4) what finishersAhead returns, up to limit.
// The limit is in the text, not a parameter: SQLite's planner reads a
// bound LIMIT, so a statement with one is prepared again every time it is
// bound (two thirds of a finisher's rank, measured).
func finishersAheadSQLite(limit int) string {
	return `SELECT
		COALESCE((SELECT SUM(entrants) FROM hunt_ranks WHERE hunt_id = $1 AND depth = 0 AND score > $2), 0) +
		COALESCE((SELECT SUM(entrants) FROM hunt_ranks WHERE hunt_id = $1 AND depth = 0 AND score = $2 AND unfinished = 0), 0),
		(SELECT COUNT(*) FROM (SELECT 1 FROM hunt_entrants WHERE hunt_id = $1 AND score = $2
			AND finish_key >= $3 AND finish_key < ` + unfinishedKey + ` AND (finish_key > $3 OR player_id >= $4) LIMIT ` + strconv.Itoa(limit) + `) AS a)`
}

// finishersAheadPostgres counts what finishersAhead returns for several
// finishers, given as arrays, in the order of their index $1.
var finishersAheadPostgres = `WITH q AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[])
		AS q (i, hunt_id, score, finish_key, player_id))
SELECT
	CAST(COALESCE((SELECT SUM(r.entrants) FROM hunt_ranks r WHERE r.hunt_id = q.hunt_id AND r.depth = 0 AND r.score > q.score), 0) +
		COALESCE((SELECT SUM(r.entrants) FROM hunt_ranks r WHERE r.hunt_id = q.hunt_id AND r.depth = 0 AND r.score = q.score
			AND r.unfinished = 0), 0) AS BIGINT),
	(SELECT COUNT(*) FROM (SELECT 1 FROM hunt_entrants e WHERE e.hunt_id = q.hunt_id AND e.score = q.score
		AND e.finish_key >= q.finish_key AND e.finish_key < ` + unfinishedKey + `
		AND (e.finish_key > q.finish_key OR e.player_id >= q.player_id) LIMIT $6) AS a)
FROM q ORDER BY q.i`

// idsFrom returns the bound from which the ids whose key starts with k
// (an unfinished entrant's key) begin: every such id is op from, and
// every id op from and below them has that key too. from is valid UTF-8,
// so PostgreSQL takes it as text.
func idsFrom(k []byte) (from, op string) {
	var b []byte
	op = ">="
	for i := 0; i < len(k) && k[i] != 0; i++ {
		switch {
		case k[i] == 1 && i+1 < len(k):
			i++
			b = append(b, k[i]-1)
		case k[i] == 1:
			// A cut escape: the id goes on with 0x00 or 0x01, so it is
			// longer than b.
			op = ">"
		default:
			b = append(b, k[i])
		}
	}
	return completeRune(b), op
}

// completeRune extends b, cut inside its last UTF-8 sequence, to the
// smallest valid string that starts with it; other b are returned as they
// are.
func completeRune(b []byte) string {
	start := len(b) - 1
	for start > 0 && len(b)-start < utf8.UTFMax && b[start]&0xC0 == 0x80 {
		start--
	}
	if start < 0 || utf8.FullRune(b[start:]) {
		return string(b)
	}
	lead := b[start]
	var size int
	switch {
	case lead >= 0xF0:
		size = 4
	case lead >= 0xE0:
		size = 3
	default:
		size = 2
	}
	for n := len(b) - start; n < size; n++ {
		c := byte(0x80)
		if n == 1 {
			switch lead {
			case 0xE0:
				c = 0xA0
			case 0xF0:
				c = 0x90
			}
		}
		b = append(b, c)
	}
	return string(b)
}

// rankHunt counts the ranks of a hunt that has entrants but no counts
// (one created before hunt_ranks existed), reading each entrant once, and
// marks the hunt ranked.
func rankHunt(ctx context.Context, tx execer, engine sqldb.Engine, huntID string) error {
	rows, err := tx.QueryContext(ctx, `SELECT player_id, score, completed_at FROM hunt_entrants WHERE hunt_id = $1`, huntID)
	if err != nil {
		return fmt.Errorf("rank hunt %s: %w", huntID, err)
	}
	d := make(rankDeltas)
	for rows.Next() {
		var e hunt.Entrant
		var score, completed int64
		if err := rows.Scan(&e.PlayerID, &score, &completed); err != nil {
			rows.Close()
			return fmt.Errorf("rank hunt %s: %w", huntID, err)
		}
		e.Score, e.CompletedAt = uint32(score), fromNanos(completed)
		d.add(huntID, &e, 1)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rank hunt %s: %w", huntID, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM hunt_ranks WHERE hunt_id = $1`, huntID); err != nil {
		return fmt.Errorf("rank hunt %s: %w", huntID, err)
	}
	if err := d.save(ctx, tx, engine); err != nil {
		return fmt.Errorf("rank hunt %s: %w", huntID, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE hunt_defs SET ranked = 1 WHERE hunt_id = $1`, huntID); err != nil {
		return fmt.Errorf("rank hunt %s: %w", huntID, err)
	}
	return nil
}
