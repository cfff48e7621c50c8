package huntapp

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// rankIDs are player ids that test the rank keys' edges: ids sharing more
// than the key's bytes, ids that are prefixes of others, multi-byte
// characters cut by the key's end, and the bytes the key escapes (NUL only
// on SQLite: PostgreSQL text cannot hold it).
func rankIDs(engine sqldb.Engine) []string {
	ids := []string{
		"a", "ab", "abc", "b", "B", "~",
		"player-000000000001", "player-000000000002", "player-00000000001", "player-0000000000", "player-00000000000",
		"ééééé1", "éééééé", "éééééé1", "ééééééa", "€€€€x", "€€€€", "€€€", "𝄞𝄞𝄞a", "𝄞𝄞𝄞", "𝄞𝄞𝄞𝄞",
		"aéééééé", "aééééééb", "aéééééêb", "ab€€€€", "ab€€€a", "ab𝄞𝄞𝄞", "ab𝄞𝄞𝄟", "abcdefghijk\u0800", "abcdefghijk\u0801",
		"abcdefghijk𐀀", "abcdefghijk𐀁", "abcdefghijk",
		"\x01", "a\x01b", "a\x01", "aaaaaaaaaa\x01x", "aaaaaaaaaa\x01", "aaaaaaaaaaa\x01", "aaaaaaaaaaa",
		"0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d10", "0b6c6f1e-4a1d-4c43-9b0e-6f2f1c9a7d11", "0b6c6f1e-4a1d-0000-0000-000000000000",
		"ffffffff-ffff-4fff-bfff-ffffffffffff",
	}
	// Ids about as long as the key: whole with its terminator, cut at the
	// terminator, at an escape or inside a character.
	for _, n := range []int{rankKeyLen - 2, rankKeyLen - 1} {
		a := strings.Repeat("a", n)
		for _, id := range []string{a, a + "\x01", a + "\x01b", a + "b", a + "\u0800", a + "\u0801", a + "𐀀"} {
			if !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	if engine == sqldb.SQLite {
		ids = append(ids, "\x00", "a\x00", "a\x00b", "aaaaaaaaaa\x00", "aaaaaaaaaa\x00\x00",
			strings.Repeat("a", rankKeyLen-2)+"\x00", strings.Repeat("a", rankKeyLen-1)+"\x00b")
	}
	return ids
}

// TestRankKeysOrderAsIDs checks, without a database, what ranks rely on:
// unfinished entrants' keys never order two ids against the rules, and
// the ids tied on a key are exactly those from its bound.
func TestRankKeysOrderAsIDs(t *testing.T) {
	t.Parallel()
	ids := rankIDs(sqldb.SQLite)
	slices.SortFunc(ids, strings.Compare)
	for i, a := range ids {
		_, ka := rankKey(&hunt.Entrant{PlayerID: a})
		from, op := idsFrom(ka)
		if !utf8.ValidString(from) && utf8.ValidString(a) {
			t.Errorf("bound of %q is %q, not UTF-8", a, from)
		}
		for j, b := range ids {
			_, kb := rankKey(&hunt.Entrant{PlayerID: b})
			if c := bytes.Compare(ka, kb); i < j && c > 0 || i > j && c < 0 {
				t.Errorf("ids %q < %q but keys %q > %q", min(a, b), max(a, b), ka, kb)
			}
			tied := bytes.Equal(ka, kb)
			fromBound := b >= from && (op == ">=" || b > from)
			if b <= a && tied != fromBound {
				t.Errorf("id %q, key %q: tied with %q (key %q) = %v, but %s %q = %v", a, ka, b, kb, tied, op, from, fromBound)
			}
		}
	}
}

// rankHuntCreated has points that give finishers and others the same
// score (the last clue is worth nothing) and two positions one score.
func rankHuntCreated() *huntv1.HuntCreated {
	h := testHunt("h", 0)
	h.Clues = nil
	for i, pts := range []uint32{10, 0, 5, 0} {
		h.Clues = append(h.Clues, &huntv1.Clue{ClueId: fmt.Sprintf("c%d", i), Text: "t", Points: pts,
			Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: hunt.AnswerSHA256(fmt.Sprint(i))}})
	}
	return h
}

// rankGame joins every player, then has them answer right or wrong, many
// in the same minute, so that finishers tie on their finishing time.
func rankGame(r *rand.Rand, ids []string) []proto.Message {
	msgs := []proto.Message{rankHuntCreated()}
	pos := make(map[string]int)
	for _, id := range ids {
		msgs = append(msgs, &huntv1.PlayerJoinedHunt{HuntId: "h", PlayerId: id, JoinedAt: ts(1)})
	}
	for minute := 2; minute < 12; minute++ {
		for _, id := range ids {
			if r.IntN(3) == 0 {
				continue
			}
			clue, text := min(pos[id], 3), "wrong"
			if r.IntN(3) > 0 {
				text = fmt.Sprint(clue)
				pos[id]++
			}
			msgs = append(msgs, ans("h", id, fmt.Sprintf("c%d", clue), text, minute))
		}
	}
	return msgs
}

// checkRanks compares every player's leaderboard read from the rows with
// the rules'.
func checkRanks(t *testing.T, ctx context.Context, db *sqldb.DB, want *hunt.State, ids []string, when string) {
	t.Helper()
	for _, id := range ids {
		wantLb, _ := want.Leaderboard("h", 3, id)
		gotLb, err := readLeaderboard(ctx, db, "h", 3, id)
		if err != nil {
			t.Fatalf("%s: leaderboard for %q: %v", when, id, err)
		}
		if diff := cmp.Diff(wantLb, gotLb); diff != "" {
			t.Fatalf("%s: leaderboard for %q (-rules +rows):\n%s", when, id, diff)
		}
	}
	// The counts are those of the entrants, and no other row (none of a
	// prefix no entrant has any more); none at all while the hunt is to be
	// counted again.
	var ranked int64
	if err := db.QueryRowContext(ctx, `SELECT COALESCE(MAX(ranked), 0) FROM hunt_defs WHERE hunt_id = 'h'`).Scan(&ranked); err != nil {
		t.Fatal(err)
	}
	wantCounts := make(map[string]int64)
	if h := want.Hunts["h"]; h != nil && ranked == 1 {
		d := make(rankDeltas)
		for _, e := range h.Entrants {
			d.add("h", e, 1)
		}
		for n, v := range d {
			wantCounts[fmt.Sprintf("depth %d, score %d, unfinished %d, prefix %q", n.depth, n.group.score, n.group.unfinished, n.prefix)] = v
		}
	}
	rows, err := db.QueryContext(ctx, `SELECT depth, score, unfinished, prefix, entrants FROM hunt_ranks`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	gotCounts := make(map[string]int64)
	for rows.Next() {
		var depth, score, unfinished, n int64
		var prefix []byte
		if err := rows.Scan(&depth, &score, &unfinished, &prefix, &n); err != nil {
			t.Fatal(err)
		}
		gotCounts[fmt.Sprintf("depth %d, score %d, unfinished %d, prefix %q", depth, score, unfinished, prefix)] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantCounts, gotCounts); diff != "" {
		t.Fatalf("%s: rank counts (-entrants' +rows):\n%s", when, diff)
	}
}

// TestRanksMatchRules plays games with edge-case ids in batches of random
// sizes and compares every derived event (HuntCompleted carries a rank)
// and every player's standing with the rules', after each batch.
func TestRanksMatchRules(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ids := rankIDs(engine)
		for seed := range uint64(3) {
			ctx := context.Background()
			db := openDB(t, engine)
			r := rand.New(rand.NewPCG(seed, 11))
			evs := inputs(rankGame(r, ids)...)
			var want hunt.State
			completions := 0
			for rest := evs; len(rest) > 0; {
				n := min(len(rest), 1+r.IntN(80))
				var wantDerived []proto.Message
				for _, ev := range rest[:n] {
					d, _ := want.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
					wantDerived = append(wantDerived, d...)
				}
				res, err := apply(ctx, db, rest[:n])
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				var gotDerived []proto.Message
				for _, d := range res.Derived {
					if _, ok := d.Message.(*huntv1.HuntCompleted); ok {
						completions++
					}
					gotDerived = append(gotDerived, d.Message)
				}
				if diff := cmp.Diff(wantDerived, gotDerived, protocmp.Transform()); diff != "" {
					t.Fatalf("seed %d: derived events differ (-rules +rows):\n%s", seed, diff)
				}
				rest = rest[n:]
				checkRanks(t, ctx, db, &want, ids, fmt.Sprintf("seed %d, %d events left", seed, len(rest)))
			}
			if completions == 0 {
				t.Fatalf("seed %d: nobody completed the hunt", seed)
			}
		}
	})
}

// TestRanksCountedForOlderHunts checks a hunt from before the rank counts:
// its reads count on the index until a batch touches it, which counts its
// ranks, and the ranks match the rules' throughout.
func TestRanksCountedForOlderHunts(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := openDB(t, engine)
		ids := rankIDs(engine)
		evs := inputs(rankGame(rand.New(rand.NewPCG(5, 5)), ids)...)
		half := len(evs) / 2
		var want hunt.State
		for _, ev := range evs[:half] {
			_, _ = want.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
		}
		if _, err := apply(ctx, db, evs[:half]); err != nil {
			t.Fatal(err)
		}
		// As the hunt would be after the migration that added the counts.
		if _, err := db.ExecContext(ctx, `DELETE FROM hunt_ranks`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `UPDATE hunt_defs SET ranked = 0`); err != nil {
			t.Fatal(err)
		}
		checkRanks(t, ctx, db, &want, ids, "not yet counted")
		for _, ev := range evs[half:] {
			_, _ = want.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
		}
		if _, err := apply(ctx, db, evs[half:]); err != nil {
			t.Fatal(err)
		}
		var ranked int
		if err := db.QueryRowContext(ctx, `SELECT ranked FROM hunt_defs WHERE hunt_id = 'h'`).Scan(&ranked); err != nil || ranked != 1 {
			t.Fatalf("ranked = %d, %v; want 1", ranked, err)
		}
		checkRanks(t, ctx, db, &want, ids, "counted")
	})
}

// TestMigrateFromRowsWithoutRanks migrates a database that holds a hunt in
// the rows of the version before the rank counts, then plays on: the
// entrants survive the migration and ranks match the rules'.
func TestMigrateFromRowsWithoutRanks(t *testing.T) {
	t.Parallel()
	const before = 7 // the steps of the version without hunt_ranks
	testUpgrade(t, func([]string) int { return before }, 9, nil)
}

// testUpgrade migrates a database to the first before(steps) steps of the
// migrations, writes the rows of half a game as that version left them
// (and counts(h) as its rank counts, when counts is not nil), migrates it
// to the last step, and checks the ranks against the rules' then and
// after the rest of the game is applied.
func testUpgrade(t *testing.T, before func(steps []string) int, seed uint64, counts func(h *hunt.Hunt) rankDeltas) {
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := sqldbtest.Open(t, engine)
		steps := migrations(engine)
		if err := db.Migrate(ctx, "hunt", steps[:before(steps)]); err != nil {
			t.Fatal(err)
		}
		ids := rankIDs(engine)
		evs := inputs(rankGame(rand.New(rand.NewPCG(seed, seed)), ids)...)
		half := len(evs) / 2
		var want hunt.State
		for _, ev := range evs[:half] {
			_, _ = want.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
		}
		h := want.Hunts["h"]
		var old rankDeltas
		if counts != nil {
			old = counts(h)
		}
		writeHuntRows(t, ctx, db, engine, h, old)
		if err := db.Migrate(ctx, "hunt", steps); err != nil {
			t.Fatal(err)
		}
		checkRanks(t, ctx, db, &want, ids, "migrated")
		for _, ev := range evs[half:] {
			_, _ = want.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
		}
		if _, err := apply(ctx, db, evs[half:]); err != nil {
			t.Fatal(err)
		}
		checkRanks(t, ctx, db, &want, ids, "played on")
	})
}

// writeHuntRows writes hunt h's definition, counters and entrants
// straight to the rows, as an earlier version left them, and the rank
// counts ranks when not nil, marking the hunt ranked.
func writeHuntRows(t *testing.T, ctx context.Context, db *sqldb.DB, engine sqldb.Engine, h *hunt.Hunt, ranks rankDeltas) {
	t.Helper()
	clues, err := json.Marshal(h.Clues)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO hunt_defs (hunt_id, title, clues, starts_at, ends_at, max_players)
			VALUES ($1, $2, $3, $4, $5, 0)`, h.ID, h.Title, string(clues), nanos(h.StartsAt), nanos(h.EndsAt)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO hunt_counters (hunt_id, joined, finished) VALUES ($1, $2, $3)`,
			h.ID, h.Joined, h.Finished); err != nil {
			return err
		}
		var ents []any
		for _, e := range h.Entrants {
			ents = append(ents, h.ID, e.PlayerID, nanos(e.JoinedAt), e.Position, int64(e.Score), e.WrongStreak,
				nanos(e.LastWrongAt), nanos(e.CompletedAt), finishKey(e))
		}
		if err := insertEntrants.exec(ctx, tx, engine, ents); err != nil {
			return err
		}
		if ranks == nil {
			return nil
		}
		if err := ranks.save(ctx, tx, engine); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE hunt_defs SET ranked = 1 WHERE hunt_id = $1`, h.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMigrateFromOneByteRankCounts checks an upgrade from the version
// whose rank counts added one key byte a depth for every entrant: its
// counts are dropped and counted again as this version counts them, and
// the ranks match the rules' before and after a batch.
func TestMigrateFromOneByteRankCounts(t *testing.T) {
	t.Parallel()
	before := func(steps []string) int { return slices.Index(steps, recountRanks[0]) }
	testUpgrade(t, before, 5, func(h *hunt.Hunt) rankDeltas {
		// The counts as that version kept them: a depth for each key byte
		// of keys cut at 12 bytes.
		old := make(rankDeltas)
		for _, e := range h.Entrants {
			g, k := rankKeyCut(e, 12)
			for depth := range len(k) + 1 {
				old[rankNode{h.ID, g, depth, string(k[:depth])}]++
			}
		}
		return old
	})
}

// TestMigrateFromTwelveByteRankKeys checks an upgrade from the version
// that cut unfinished entrants' keys at 12 bytes: the deeper counts are
// dropped, and the ranks match the rules' before and after a batch.
func TestMigrateFromTwelveByteRankKeys(t *testing.T) {
	t.Parallel()
	before := func(steps []string) int { return slices.Index(steps, dropDeepRanks) }
	testUpgrade(t, before, 11, func(h *hunt.Hunt) rankDeltas {
		old := make(rankDeltas)
		for _, e := range h.Entrants {
			g, k := rankKeyCut(e, 12)
			old.addKey(h.ID, g, k, 1)
		}
		return old
	})
}

// TestFinisherCountsMatchTrie checks the count of entrants ahead of a
// finisher that uses the leaderboard index (countsAheadFinished) against
// the trie's, with limits that make it fall back to the trie always,
// sometimes and never: for every entrant as the rows hold it, and for
// every entrant that has not finished as if it finished now, at a time
// another finisher shares or at none.
func TestFinisherCountsMatchTrie(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := context.Background()
		db := openDB(t, engine)
		ids := rankIDs(engine)
		r := rand.New(rand.NewPCG(7, 7))
		evs := inputs(rankGame(r, ids)...)
		var want hunt.State
		checked := 0
		for rest := evs; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN(120))
			for _, ev := range rest[:n] {
				_, _ = want.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
			}
			if _, err := apply(ctx, db, rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			h := want.Hunts["h"]
			var finishedAt []time.Time
			for _, e := range h.Entrants {
				if h.Completed(e) {
					finishedAt = append(finishedAt, e.CompletedAt)
				}
			}
			var qs []rankQuery
			for _, id := range ids {
				if h.Entrants[id] == nil {
					continue // not joined yet
				}
				e := *h.Entrants[id]
				qs = append(qs, rankQuery{hunt: "h", e: e})
				if !h.Completed(&e) {
					done := e
					done.Position, done.Score = len(h.Clues), 15
					done.CompletedAt = ts(30).AsTime().Add(time.Duration(r.IntN(3)))
					if len(finishedAt) > 0 && r.IntN(2) == 0 {
						done.CompletedAt = finishedAt[r.IntN(len(finishedAt))]
					}
					qs = append(qs, rankQuery{hunt: "h", e: done})
				}
			}
			want, err := countsAhead(ctx, db, engine, qs)
			if err != nil {
				t.Fatal(err)
			}
			for _, limit := range []int{1, 2, 3, finishersAfterLimit} {
				got, err := countsAheadFinished(ctx, db, engine, qs, limit)
				if err != nil {
					t.Fatal(err)
				}
				for i := range qs {
					if got[i] != want[i] {
						t.Fatalf("limit %d: %d ahead of %+v, the trie counts %d", limit, got[i], qs[i].e, want[i])
					}
				}
			}
			checked += len(qs)
		}
		if checked == 0 {
			t.Fatal("nothing checked")
		}
	})
}
