package huntapp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/sqldb"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/hunt"
)

// migrations creates the hunt's tables. The first two steps made the
// blob tables of earlier versions (one JSON blob per hunt and per player);
// they stay so that step numbers hold, and their contents are not read.
// The hunt is kept in rows: its definition (hunt_defs), its counters
// (hunt_counters, with the stamp of the last batch that wrote the hunt,
// for the entrant cache), one row per entrant with its progress (hunt_entrants,
// ordered for the leaderboard by an index), and one per registered player
// (hunt_names), and the counts that rank entrants (hunt_ranks). An applied
// answer writes its entrant's row and its hunt's counters, and when the
// entrant's place changes, the rank counts of its old and new place. The
// rules' refusals of a player's events are kept per hunt and player
// (hunt_refusals), the last maxRefusals of them, for GetPlayerProgress; a
// refused event is identified as the runtime does, by its principal and id.
//
// Times are Unix nanoseconds, 0 for none. finish_key is completed_at, or
// the largest BIGINT while the entrant has not finished, so that one
// ascending column orders finishers first on both engines.
func migrations(engine sqldb.Engine) []string {
	blob, clustered := "BLOB", " WITHOUT ROWID"
	if engine == sqldb.Postgres {
		blob, clustered = "BYTEA", ""
	}
	steps := []string{
		`CREATE TABLE IF NOT EXISTS hunt_states (
			hunt_id TEXT PRIMARY KEY,
			state TEXT NOT NULL)`,
		`CREATE TABLE IF NOT EXISTS hunt_players (
			player_id TEXT PRIMARY KEY,
			state TEXT NOT NULL)`,
		`CREATE TABLE hunt_defs (
			hunt_id TEXT PRIMARY KEY,
			title TEXT NOT NULL,
			clues TEXT NOT NULL,
			starts_at BIGINT NOT NULL,
			ends_at BIGINT NOT NULL,
			max_players BIGINT NOT NULL)`,
		`CREATE TABLE hunt_counters (
			hunt_id TEXT PRIMARY KEY,
			joined BIGINT NOT NULL,
			finished BIGINT NOT NULL)`,
		`CREATE TABLE hunt_entrants (
			hunt_id TEXT NOT NULL,
			player_id TEXT NOT NULL,
			joined_at BIGINT NOT NULL,
			position INTEGER NOT NULL,
			score BIGINT NOT NULL,
			wrong_streak INTEGER NOT NULL,
			last_wrong_at BIGINT NOT NULL,
			completed_at BIGINT NOT NULL,
			finish_key BIGINT NOT NULL,
			PRIMARY KEY (hunt_id, player_id))`,
		`CREATE INDEX hunt_entrants_rank ON hunt_entrants (hunt_id, score DESC, finish_key, player_id)`,
		`CREATE TABLE hunt_names (
			player_id TEXT PRIMARY KEY,
			display_name TEXT NOT NULL,
			registered_at BIGINT NOT NULL)`,
		`CREATE TABLE hunt_refusals (
			hunt_id TEXT NOT NULL,
			player_id TEXT NOT NULL,
			principal TEXT NOT NULL,
			event_id TEXT NOT NULL,
			event_type TEXT NOT NULL,
			reason TEXT NOT NULL,
			message TEXT NOT NULL,
			refused_at BIGINT NOT NULL,
			seq BIGINT NOT NULL,
			PRIMARY KEY (hunt_id, player_id, principal, event_id))`,
		// The counts that rank a player (ranks.go). A hunt's counts are
		// built from its entrants by the first batch that touches it
		// after this step (ranked = 0 until then); reads of a hunt not
		// yet ranked count on the leaderboard index.
		`CREATE TABLE hunt_ranks (
			hunt_id TEXT NOT NULL,
			depth INTEGER NOT NULL,
			score BIGINT NOT NULL,
			unfinished INTEGER NOT NULL,
			prefix ` + blob + ` NOT NULL,
			entrants BIGINT NOT NULL,
			PRIMARY KEY (hunt_id, depth, score, unfinished, prefix))` + clustered,
		`ALTER TABLE hunt_defs ADD COLUMN ranked INTEGER NOT NULL DEFAULT 0`,
	}
	if engine == sqldb.Postgres {
		// Player ids compare byte by byte, as the rules compare them,
		// whatever the database's collation. PostgreSQL keeps rows in a
		// heap and updates them in place when no indexed column changes.
		steps = append(steps,
			`ALTER TABLE hunt_entrants ALTER COLUMN player_id TYPE TEXT COLLATE "C"`,
			`ALTER TABLE hunt_names ALTER COLUMN player_id TYPE TEXT COLLATE "C"`,
			`SELECT 1`, `SELECT 1`, `SELECT 1`,
			// An answer rewrites its entrant's row and a change of place
			// the rank counts: room left in each page lets PostgreSQL
			// write the new version beside the old one without touching
			// the indexes whose columns did not change.
			`ALTER TABLE hunt_entrants SET (fillfactor = 70)`,
			`ALTER TABLE hunt_ranks SET (fillfactor = 80)`)
		steps = append(steps, recountRanks...)
		steps = append(steps, `SELECT 1`) // saveRanksSQL deletes the zero counts
		return append(steps, dropDeepRanks, addStamp)
	}
	// SQLite compares TEXT byte by byte. Its entrants are kept in their
	// primary key's order, so that an answer writes one row of one tree
	// (and the leaderboard index only when the player's place changes).
	steps = append(steps,
		`CREATE TABLE hunt_entrants_by_key (
			hunt_id TEXT NOT NULL,
			player_id TEXT NOT NULL,
			joined_at BIGINT NOT NULL,
			position INTEGER NOT NULL,
			score BIGINT NOT NULL,
			wrong_streak INTEGER NOT NULL,
			last_wrong_at BIGINT NOT NULL,
			completed_at BIGINT NOT NULL,
			finish_key BIGINT NOT NULL,
			PRIMARY KEY (hunt_id, player_id)) WITHOUT ROWID`,
		`INSERT INTO hunt_entrants_by_key SELECT hunt_id, player_id, joined_at, position, score, wrong_streak,
			last_wrong_at, completed_at, finish_key FROM hunt_entrants`,
		`DROP TABLE hunt_entrants`,
		`ALTER TABLE hunt_entrants_by_key RENAME TO hunt_entrants`,
		`CREATE INDEX hunt_entrants_rank ON hunt_entrants (hunt_id, score DESC, finish_key, player_id)`,
		`SELECT 1`, `SELECT 1`)
	steps = append(steps, recountRanks...)
	// A rank count brought to zero is deleted as the upsert that brings
	// it there runs (ranks.go: rankDeltas.save).
	return append(steps, `CREATE TRIGGER hunt_ranks_drop_empty AFTER UPDATE OF entrants ON hunt_ranks
		WHEN NEW.entrants = 0 BEGIN
			DELETE FROM hunt_ranks WHERE hunt_id = NEW.hunt_id AND depth = NEW.depth AND score = NEW.score
				AND unfinished = NEW.unfinished AND prefix = NEW.prefix;
		END`, dropDeepRanks, addStamp)
}

// dropDeepRanks is the step after which unfinished entrants' keys are cut
// to 6 bytes rather than 12 (rankKeyLen): their counts at depths 1 to 3
// are those of the same prefixes, and the deeper ones, which nothing reads
// or writes any more, are deleted.
const dropDeepRanks = `DELETE FROM hunt_ranks WHERE unfinished = 1 AND depth > 3`

// addStamp is the step that gives each hunt the stamp its batches write,
// by which the entrant cache knows its entrants unchanged (cache.go).
const addStamp = `ALTER TABLE hunt_counters ADD COLUMN stamp BIGINT NOT NULL DEFAULT 0`

// recountRanks are the steps after which every hunt's ranks are counted
// again, as after the step that made hunt_ranks: the counts of
// unfinished entrants went from one key byte a depth to two.
var recountRanks = []string{
	`DELETE FROM hunt_ranks`,
	`UPDATE hunt_defs SET ranked = 0`,
}

// maxRefusals is how many refusals are kept per hunt and player.
const maxRefusals = 5

// The statements that write the hunt's rows.
var (
	insertDefs = rowInsert{
		head:  `INSERT INTO hunt_defs (hunt_id, title, clues, starts_at, ends_at, max_players, ranked)`,
		types: []string{"text", "text", "text", "bigint", "bigint", "bigint", "bigint"},
		tail:  `ON CONFLICT (hunt_id) DO NOTHING`,
	}
	upsertCounters = rowInsert{
		head:  `INSERT INTO hunt_counters (hunt_id, joined, finished, stamp)`,
		types: []string{"text", "bigint", "bigint", "bigint"},
		tail:  `ON CONFLICT (hunt_id) DO UPDATE SET joined = excluded.joined, finished = excluded.finished, stamp = excluded.stamp`,
	}
	// insertEntrants writes entrants that are not there yet.
	insertEntrants = rowInsert{
		head:  `INSERT INTO hunt_entrants (hunt_id, player_id, joined_at, position, score, wrong_streak, last_wrong_at, completed_at, finish_key)`,
		types: []string{"text", "text", "bigint", "bigint", "bigint", "bigint", "bigint", "bigint", "bigint"},
	}
	// upsertPlaced writes entrants whose place may have changed.
	upsertPlaced = rowInsert{
		head:  insertEntrants.head,
		types: insertEntrants.types,
		tail: `ON CONFLICT (hunt_id, player_id) DO UPDATE SET position = excluded.position, score = excluded.score,
			wrong_streak = excluded.wrong_streak, last_wrong_at = excluded.last_wrong_at,
			completed_at = excluded.completed_at, finish_key = excluded.finish_key`,
	}
	// upsertStreaks writes entrants whose wrong-answer streak alone changed.
	upsertStreaks = rowInsert{
		head:  insertEntrants.head,
		types: insertEntrants.types,
		tail: `ON CONFLICT (hunt_id, player_id) DO UPDATE SET
			wrong_streak = excluded.wrong_streak, last_wrong_at = excluded.last_wrong_at`,
	}
	upsertNames = rowInsert{
		head:  `INSERT INTO hunt_names (player_id, display_name, registered_at)`,
		types: []string{"text", "text", "bigint"},
		tail:  `ON CONFLICT (player_id) DO UPDATE SET display_name = excluded.display_name`,
	}
	insertRefusals = rowInsert{
		head:  `INSERT INTO hunt_refusals (hunt_id, player_id, principal, event_id, event_type, reason, message, refused_at, seq)`,
		types: []string{"text", "text", "text", "text", "text", "text", "text", "bigint", "bigint"},
		tail:  `ON CONFLICT (hunt_id, player_id, principal, event_id) DO NOTHING`,
	}
)

// nanos is t in Unix nanoseconds, 0 for the zero time.
func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos undoes nanos.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// finishKey orders finishers first, earlier finish first.
func finishKey(e *hunt.Entrant) int64 {
	if e.CompletedAt.IsZero() {
		return math.MaxInt64
	}
	return nanos(e.CompletedAt)
}

// entrantKey names an entrant.
type entrantKey struct{ hunt, player string }

// batch is what one transaction of applyBatch loaded, by key: each row is
// read once and written once.
type batch struct {
	tx     execer
	engine sqldb.Engine
	st     *hunt.State
	// stored are the entrants as their rows held them before the batch,
	// for ranks counted on the index.
	stored map[entrantKey]hunt.Entrant
	// created hunts need their definition written.
	created map[string]bool
	// dirty entrants, hunts (counters) and registered players.
	dirty        map[entrantKey]bool
	dirtyHunts   map[string]bool
	dirtyPlayers map[string]bool
	// refusals to keep, in the order the batch refused them.
	refusals []refusal
	// ranks are the batch's completions, in order.
	ranks []pendingRank
	// moved are, by hunt, the entrants whose place the batch changed so
	// far, those who joined in it included.
	moved map[string]map[string]bool
	// cache holds entrants read and written by earlier batches; nil for
	// none. stamps are the stamps the batch read in the hunts' counters,
	// and stamped those it wrote there.
	cache           *entrantCache
	stamps, stamped map[string]int64
	// read are the entrants the batch read from the rows (not the cache).
	read []entrantKey
}

// refusal is a refused event, as kept for GetPlayerProgress.
type refusal struct {
	principal string
	seq       int64 // the event's offset: orders refusals received at one time
	ev        *huntv1.EventRefused
}

// applyBatch applies events to the rows they touch, in tx, saves what
// changed, and returns the derived events. The entrants it finds in cache
// are not read from the rows; cache may be nil.
func applyBatch(ctx context.Context, tx execer, engine sqldb.Engine, cache *entrantCache, events []*workers.Event) (workers.Result, error) {
	var res workers.Result
	b := &batch{
		tx:           tx,
		engine:       engine,
		st:           &hunt.State{Hunts: make(map[string]*hunt.Hunt), Players: make(map[string]*hunt.Player)},
		stored:       make(map[entrantKey]hunt.Entrant),
		created:      make(map[string]bool),
		dirty:        make(map[entrantKey]bool),
		dirtyHunts:   make(map[string]bool),
		dirtyPlayers: make(map[string]bool),
		moved:        make(map[string]map[string]bool),
		cache:        cache,
		stamps:       make(map[string]int64),
		stamped:      make(map[string]int64),
	}
	b.st.Rank = b.rank
	if err := b.load(ctx, events); err != nil {
		return res, err
	}
	for _, ev := range events {
		playerID, isPlayer := isPlayerEvent(ev.Message)
		ranked := len(b.ranks)
		watch := b.watchPlace(ev)
		derived, err := b.st.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
		watch()
		if len(b.ranks) > ranked {
			for _, d := range derived {
				if c, ok := d.(*huntv1.HuntCompleted); ok {
					b.ranks[len(b.ranks)-1].msg = c
				}
			}
		}
		if rej, ok := errors.AsType[*hunt.RejectedError](err); ok {
			res.Rejected = append(res.Rejected, rejection(ev, rej))
			if r := refused(ev, rej); r != nil {
				res.Derived = append(res.Derived, workers.Derived{Cause: ev, Key: []byte(r.GetPlayerId()), Message: r})
				b.refusals = append(b.refusals, refusal{principal: ev.Principal, seq: ev.Offset, ev: r})
			}
			continue
		} else if err != nil {
			return res, fmt.Errorf("apply event %s: %w", ev.EventID, err)
		}
		if isPlayer {
			b.dirtyPlayers[playerID] = true
		} else if k, ok := keyOfEvent(ev); ok {
			if k.player == "" {
				b.created[k.hunt] = true
			} else {
				b.dirty[k] = true
			}
			b.dirtyHunts[k.hunt] = true
		}
		for _, d := range derived {
			key, err := keyOf(d)
			if err != nil {
				return res, err
			}
			res.Derived = append(res.Derived, workers.Derived{Cause: ev, Key: key, Message: d})
		}
	}
	if err := b.rankCompletions(ctx); err != nil {
		return res, err
	}
	if err := b.save(ctx); err != nil {
		return res, err
	}
	b.keep()
	return res, nil
}

// keyOfEvent names the hunt (and player) a hunt event touches; the player
// is empty for HuntCreated.
func keyOfEvent(ev *workers.Event) (entrantKey, bool) {
	h, ok := ev.Message.(interface{ GetHuntId() string })
	if !ok {
		return entrantKey{}, false
	}
	k := entrantKey{hunt: h.GetHuntId()}
	if p, ok := ev.Message.(interface{ GetPlayerId() string }); ok {
		k.player = p.GetPlayerId()
	}
	return k, true
}

// load reads, in a few queries, every row the batch's events touch.
func (b *batch) load(ctx context.Context, events []*workers.Event) error {
	hunts := make(map[string]bool)
	entrants := make(map[entrantKey]bool)
	var players []string
	seenPlayers := make(map[string]bool)
	for _, ev := range events {
		if id, ok := isPlayerEvent(ev.Message); ok {
			if !seenPlayers[id] {
				seenPlayers[id] = true
				players = append(players, id)
			}
			continue
		}
		k, ok := keyOfEvent(ev)
		if !ok || k.hunt == "" {
			continue
		}
		hunts[k.hunt] = true
		if k.player != "" {
			entrants[k] = true
		}
	}
	var ids []string
	for id := range hunts {
		ids = append(ids, id)
	}
	meta := make(map[string]huntMeta)
	if err := loadHunts(ctx, b.tx, b.st, ids, meta); err != nil {
		return err
	}
	for id, m := range meta {
		b.stamps[id] = m.stamp
	}
	for _, id := range ids {
		if _, ok := b.st.Hunts[id]; ok && !meta[id].ranked {
			if err := rankHunt(ctx, b.tx, b.engine, id); err != nil {
				return err
			}
		}
	}
	if err := loadNames(ctx, b.tx, b.st, players); err != nil {
		return err
	}
	byHunt := make(map[string][]string)
	for k := range entrants {
		if _, ok := b.st.Hunts[k.hunt]; ok {
			byHunt[k.hunt] = append(byHunt[k.hunt], k.player)
		}
	}
	for id, players := range byHunt {
		h := b.st.Hunts[id]
		players = b.cache.take(id, b.stamps[id], players, func(e hunt.Entrant) {
			h.Entrants[e.PlayerID] = &e
			b.stored[entrantKey{id, e.PlayerID}] = e
		})
		if len(players) == 0 {
			continue
		}
		sizes := []int{len(players)} // PostgreSQL: one array, one statement text
		if b.engine == sqldb.SQLite {
			sizes = sqldb.SplitRows(len(players))
		}
		err := chunkSizes(players, sizes, func(chunk []string) error {
			q, args := `SELECT `+entrantColumns+` FROM hunt_entrants WHERE hunt_id = $1 AND player_id = ANY($2::text[])`, []any{id, chunk}
			if b.engine == sqldb.SQLite {
				q = loadEntrantsSQLite(len(chunk))
				args = args[:1]
				for _, p := range chunk {
					args = append(args, p)
				}
			}
			rows, err := b.tx.QueryContext(ctx, q, args...)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				e, err := scanEntrant(rows)
				if err != nil {
					return err
				}
				h.Entrants[e.PlayerID] = e
				b.stored[entrantKey{id, e.PlayerID}] = *e
				b.read = append(b.read, entrantKey{id, e.PlayerID})
			}
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("load entrants of hunt %s: %w", id, err)
		}
	}
	return nil
}

// watchPlace notes the place of the entrant ev is about, and returns the
// function to call once ev is applied, which marks the entrant moved when
// its place changed.
func (b *batch) watchPlace(ev *workers.Event) func() {
	k, ok := keyOfEvent(ev)
	if !ok || k.player == "" {
		return func() {}
	}
	var before hunt.Entrant
	had := false
	if h := b.st.Hunts[k.hunt]; h != nil {
		if e := h.Entrants[k.player]; e != nil {
			before, had = *e, true
		}
	}
	return func() {
		h := b.st.Hunts[k.hunt]
		if h == nil {
			return
		}
		e := h.Entrants[k.player]
		if e == nil || had && samePlace(&before, e) {
			return
		}
		if b.moved[k.hunt] == nil {
			b.moved[k.hunt] = make(map[string]bool)
		}
		b.moved[k.hunt][k.player] = true
	}
}

// rank is the part of e's rank that the batch knows: the batch's own
// entrants placed before e as they are now, less those its rows held
// before the batch. Only the entrants the batch moved count: the others
// are placed before e now as they were in the rows. The rest, a count on
// the rows as they were, is added by rankCompletions once the batch is
// applied, in one statement for all the batch's finishers (an entrant's
// place never changes once finished).
func (b *batch) rank(h *hunt.Hunt, e *hunt.Entrant) int {
	ahead := 0
	for id := range b.moved[h.ID] {
		if id == e.PlayerID {
			continue
		}
		if o, ok := b.stored[entrantKey{h.ID, id}]; ok && h.Ahead(&o, e) {
			ahead--
		}
		if o := h.Entrants[id]; o != nil && h.Ahead(o, e) {
			ahead++
		}
	}
	b.ranks = append(b.ranks, pendingRank{query: rankQuery{hunt: h.ID, e: *e}, known: ahead})
	return ahead + 1
}

// pendingRank is a HuntCompleted whose rank awaits the count on the rows.
type pendingRank struct {
	query rankQuery
	// known is the batch's part of the count of entrants ahead.
	known int
	msg   *huntv1.HuntCompleted
}

// rankCompletions completes the ranks of the batch's HuntCompleted events.
func (b *batch) rankCompletions(ctx context.Context) error {
	if len(b.ranks) == 0 {
		return nil
	}
	qs := make([]rankQuery, len(b.ranks))
	for i, p := range b.ranks {
		qs[i] = p.query
	}
	counts, err := countsAheadFinished(ctx, b.tx, b.engine, qs, finishersAfterLimit)
	if err != nil {
		return err
	}
	for i, p := range b.ranks {
		if p.msg == nil {
			return fmt.Errorf("rank player %s in hunt %s: no HuntCompleted", p.query.e.PlayerID, p.query.hunt)
		}
		p.msg.Rank = uint32(p.known + counts[i] + 1)
	}
	return nil
}

// countAheadScan counts the rows of hunt placed before e, for a hunt
// whose ranks are not counted yet,: three range counts
// on the leaderboard index (a higher score; the same score, finished
// earlier; the same score and finish, a smaller player id). Its cost grows
// with the number of players ahead, read from the index alone.
func countAheadScan(ctx context.Context, q querier, _ sqldb.Engine, huntID string, e *hunt.Entrant) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT
		(SELECT COUNT(*) FROM hunt_entrants WHERE hunt_id = $1 AND score > $2) +
		(SELECT COUNT(*) FROM hunt_entrants WHERE hunt_id = $1 AND score = $2 AND finish_key < $3) +
		(SELECT COUNT(*) FROM hunt_entrants WHERE hunt_id = $1 AND score = $2 AND finish_key = $3 AND player_id < $4)`,
		huntID, int64(e.Score), finishKey(e), e.PlayerID).Scan(&n)
	return n, err
}

// save writes what the batch changed with multi-row upserts.
func (b *batch) save(ctx context.Context) error {
	var defs []any
	nDefs := 0
	for id := range b.created {
		h := b.st.Hunts[id]
		clues, err := json.Marshal(h.Clues)
		if err != nil {
			return fmt.Errorf("save hunt %s: %w", id, err)
		}
		defs = append(defs, id, h.Title, string(clues), nanos(h.StartsAt), nanos(h.EndsAt), int64(h.MaxPlayers), 1)
		nDefs++
	}
	if err := insertDefs.exec(ctx, b.tx, b.engine, defs); err != nil {
		return fmt.Errorf("save %d hunts: %w", nDefs, err)
	}
	var counters []any
	for id := range b.dirtyHunts {
		if h, ok := b.st.Hunts[id]; ok {
			b.stamped[id] = newStamp()
			counters = append(counters, id, int64(h.Joined), int64(h.Finished), b.stamped[id])
		}
	}
	if err := upsertCounters.exec(ctx, b.tx, b.engine, counters); err != nil {
		return fmt.Errorf("save hunt counters: %w", err)
	}
	// Entrants whose place changed are written whole and recounted; those
	// whose wrong-answer streak alone changed write only those columns,
	// leaving the leaderboard index alone; unchanged ones are not written.
	var placed, streaks []any
	ranks := make(rankDeltas)
	for k := range b.dirty {
		h, ok := b.st.Hunts[k.hunt]
		if !ok {
			continue
		}
		e, ok := h.Entrants[k.player]
		if !ok {
			continue
		}
		row := []any{k.hunt, e.PlayerID, nanos(e.JoinedAt), e.Position, int64(e.Score), e.WrongStreak,
			nanos(e.LastWrongAt), nanos(e.CompletedAt), finishKey(e)}
		old, stored := b.stored[k]
		switch {
		case stored && samePlace(&old, e) && old.WrongStreak == e.WrongStreak && old.LastWrongAt.Equal(e.LastWrongAt):
		case stored && samePlace(&old, e):
			streaks = append(streaks, row...)
		default:
			if stored {
				ranks.add(k.hunt, &old, -1)
			}
			ranks.add(k.hunt, e, 1)
			placed = append(placed, row...)
		}
	}
	if err := b.saveEntrants(ctx, placed, streaks); err != nil {
		return fmt.Errorf("save entrants: %w", err)
	}
	if err := ranks.save(ctx, b.tx, b.engine); err != nil {
		return err
	}
	var names []any
	for id := range b.dirtyPlayers {
		p := b.st.Players[id]
		names = append(names, id, p.DisplayName, nanos(p.RegisteredAt))
	}
	if err := upsertNames.exec(ctx, b.tx, b.engine, names); err != nil {
		return fmt.Errorf("save players: %w", err)
	}
	return b.saveRefusals(ctx)
}

// keep hands the cache, once the batch is saved, the entrants it read
// from the rows and those it wrote, as the rows hold them.
func (b *batch) keep() {
	if b.cache == nil {
		return
	}
	read := make(map[string][]hunt.Entrant)
	for _, k := range b.read {
		read[k.hunt] = append(read[k.hunt], b.stored[k])
	}
	written := make(map[string][]hunt.Entrant)
	for k := range b.dirty {
		if h := b.st.Hunts[k.hunt]; h != nil {
			if e := h.Entrants[k.player]; e != nil {
				written[k.hunt] = append(written[k.hunt], asStored(e))
			}
		}
	}
	for id := range b.st.Hunts {
		to, ok := b.stamped[id]
		if !ok {
			to = b.stamps[id]
		}
		b.cache.keep(id, b.stamps[id], to, read[id], written[id])
	}
}

// asStored is e as its row holds it, read back.
func asStored(e *hunt.Entrant) hunt.Entrant {
	s := *e
	s.JoinedAt, s.LastWrongAt, s.CompletedAt = fromNanos(nanos(e.JoinedAt)), fromNanos(nanos(e.LastWrongAt)), fromNanos(nanos(e.CompletedAt))
	return s
}

// saveEntrants writes the entrants whose place changed (placed) and those
// whose wrong-answer streak alone changed (streaks), rows of
// insertEntrants' columns. On SQLite, each set has its statement, which
// leaves the leaderboard index alone for streaks. On PostgreSQL, the rows
// that exist are updated in one statement (updateEntrantsSQL: an upsert
// would first try to insert each) and new ones inserted.
func (b *batch) saveEntrants(ctx context.Context, placed, streaks []any) error {
	if b.engine == sqldb.SQLite {
		if err := upsertPlaced.exec(ctx, b.tx, b.engine, placed); err != nil {
			return err
		}
		return upsertStreaks.exec(ctx, b.tx, b.engine, streaks)
	}
	width := len(insertEntrants.types)
	var updates, inserts []any
	for rows := range slices.Chunk(slices.Concat(placed, streaks), width) {
		if _, ok := b.stored[entrantKey{rows[0].(string), rows[1].(string)}]; ok {
			updates = append(updates, rows...)
		} else {
			inserts = append(inserts, rows...)
		}
	}
	if err := upsertPlaced.exec(ctx, b.tx, b.engine, inserts); err != nil {
		return err
	}
	if len(updates) == 0 {
		return nil
	}
	cols, err := columns(insertEntrants.types, updates)
	if err != nil {
		return err
	}
	_, err = b.tx.ExecContext(ctx, updateEntrantsSQL, cols...)
	return err
}

// updateEntrantsSQL updates, on PostgreSQL, the entrants given as arrays
// of insertEntrants' columns. An entrant whose leaderboard columns keep
// their values is updated in place, its indexes untouched.
const updateEntrantsSQL = `UPDATE hunt_entrants e SET position = u.position, score = u.score, wrong_streak = u.wrong_streak,
		last_wrong_at = u.last_wrong_at, completed_at = u.completed_at, finish_key = u.finish_key
	FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[])
		AS u (hunt_id, player_id, joined_at, position, score, wrong_streak, last_wrong_at, completed_at, finish_key)
	WHERE e.hunt_id = u.hunt_id AND e.player_id = u.player_id`

// saveRefusals keeps the batch's refusals, then drops all but the last
// maxRefusals of each hunt and player they are about.
func (b *batch) saveRefusals(ctx context.Context) error {
	if len(b.refusals) == 0 {
		return nil
	}
	var rows []any
	touched := make(map[entrantKey]bool)
	var keys []entrantKey
	for _, r := range b.refusals {
		ev := r.ev
		rows = append(rows, ev.GetHuntId(), ev.GetPlayerId(), r.principal, ev.GetRefusedEventId(), ev.GetRefusedEventType(),
			ev.GetReason(), ev.GetMessage(), nanos(ev.GetRefusedAt().AsTime()), r.seq)
		if k := (entrantKey{ev.GetHuntId(), ev.GetPlayerId()}); !touched[k] {
			touched[k] = true
			keys = append(keys, k)
		}
	}
	if err := insertRefusals.exec(ctx, b.tx, b.engine, rows); err != nil {
		return fmt.Errorf("save %d refusals: %w", len(b.refusals), err)
	}
	for _, k := range keys {
		if _, err := b.tx.ExecContext(ctx, `DELETE FROM hunt_refusals WHERE hunt_id = $1 AND player_id = $2
			AND (principal, event_id) NOT IN (SELECT principal, event_id FROM hunt_refusals
				WHERE hunt_id = $1 AND player_id = $2 ORDER BY `+refusalOrder+` LIMIT `+strconv.Itoa(maxRefusals)+`)`, k.hunt, k.player); err != nil {
			return fmt.Errorf("prune the refusals of player %s in hunt %s: %w", k.player, k.hunt, err)
		}
	}
	return nil
}

// refusalOrder orders refusals latest first: by the gateway's receive
// time, then by position in the log.
const refusalOrder = `refused_at DESC, seq DESC, event_id DESC`

// samePlace reports whether a and b have the same leaderboard columns.
func samePlace(a, b *hunt.Entrant) bool {
	return a.Position == b.Position && a.Score == b.Score && a.CompletedAt.Equal(b.CompletedAt) && a.JoinedAt.Equal(b.JoinedAt)
}

// loadEntrantsSQLite is the SQLite query loading n entrants of a hunt.
func loadEntrantsSQLite(n int) string {
	return `SELECT ` + entrantColumns + ` FROM hunt_entrants WHERE hunt_id = ? AND player_id IN (` + marks(sqldb.SQLite, 2, n) + `)`
}

// chunkSizes calls fn on consecutive slices of ids of the given sizes,
// which add up to len(ids).
func chunkSizes(ids []string, sizes []int, fn func([]string) error) error {
	for _, n := range sizes {
		if err := fn(ids[:n]); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// chunks calls fn on ids in slices of at most n.
func chunks(ids []string, n int, fn func([]string) error) error {
	for len(ids) > 0 {
		c := ids[:min(len(ids), n)]
		ids = ids[len(c):]
		if err := fn(c); err != nil {
			return err
		}
	}
	return nil
}

const entrantColumns = `player_id, joined_at, position, score, wrong_streak, last_wrong_at, completed_at`

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

func scanEntrant(r scanner) (*hunt.Entrant, error) {
	var e hunt.Entrant
	var joined, lastWrong, completed, score int64
	if err := r.Scan(&e.PlayerID, &joined, &e.Position, &score, &e.WrongStreak, &lastWrong, &completed); err != nil {
		return nil, err
	}
	e.JoinedAt, e.LastWrongAt, e.CompletedAt = fromNanos(joined), fromNanos(lastWrong), fromNanos(completed)
	e.Score = uint32(score)
	return &e, nil
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// huntMeta is what loadHunts reads of a hunt besides the rules' state.
type huntMeta struct {
	ranked bool  // its ranks are counted in hunt_ranks
	stamp  int64 // the stamp of the last batch that wrote it
}

// loadHunts puts into st the definitions and counters of the hunts named,
// with no entrants; unknown hunts are left out. It notes in meta, when
// not nil, what else their rows say.
func loadHunts(ctx context.Context, q querier, st *hunt.State, ids []string, meta map[string]huntMeta) error {
	return chunks(ids, 500, func(chunk []string) error {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, loadHuntsSQL(len(chunk)), args...)
		if err != nil {
			return fmt.Errorf("load hunts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var h hunt.Hunt
			var clues string
			var starts, ends, maxPlayers, joined, finished, isRanked, stamp int64
			if err := rows.Scan(&h.ID, &h.Title, &clues, &starts, &ends, &maxPlayers, &joined, &finished, &isRanked, &stamp); err != nil {
				return fmt.Errorf("load hunts: %w", err)
			}
			if h.Clues, err = decodedClues.decode(clues); err != nil {
				return fmt.Errorf("load hunt %s: %w", h.ID, err)
			}
			h.StartsAt, h.EndsAt = fromNanos(starts), fromNanos(ends)
			h.MaxPlayers, h.Joined, h.Finished = uint32(maxPlayers), int(joined), int(finished)
			h.Entrants = make(map[string]*hunt.Entrant)
			st.Hunts[h.ID] = &h
			if meta != nil {
				meta[h.ID] = huntMeta{ranked: isRanked != 0, stamp: stamp}
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load hunts: %w", err)
		}
		return nil
	})
}

// loadHuntsSQL is the query loadHunts sends for n hunts.
func loadHuntsSQL(n int) string {
	return `SELECT d.hunt_id, d.title, d.clues, d.starts_at, d.ends_at, d.max_players,
			COALESCE(c.joined, 0), COALESCE(c.finished, 0), d.ranked, COALESCE(c.stamp, 0)
			FROM hunt_defs d LEFT JOIN hunt_counters c ON c.hunt_id = d.hunt_id
			WHERE d.hunt_id IN (` + placeholders(1, n) + `)`
}

// loadNames puts into st the registered players named.
func loadNames(ctx context.Context, q querier, st *hunt.State, ids []string) error {
	return chunks(ids, 500, func(chunk []string) error {
		args := make([]any, len(chunk))
		for i, id := range chunk {
			args[i] = id
		}
		rows, err := q.QueryContext(ctx, `SELECT player_id, display_name, registered_at FROM hunt_names
			WHERE player_id IN (`+placeholders(1, len(chunk))+`)`, args...)
		if err != nil {
			return fmt.Errorf("load players: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var p hunt.Player
			var at int64
			if err := rows.Scan(&p.ID, &p.DisplayName, &at); err != nil {
				return fmt.Errorf("load players: %w", err)
			}
			p.RegisteredAt = fromNanos(at)
			st.Players[p.ID] = &p
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load players: %w", err)
		}
		return nil
	})
}

// marks returns n parameter marks numbered from from: "?, …" on SQLite,
// whose parser numbers "$N" marks in time quadratic in their count, and
// "$from, …" on PostgreSQL.
func marks(engine sqldb.Engine, from, n int) string {
	if engine == sqldb.SQLite {
		return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
	}
	return placeholders(from, n)
}

// placeholders returns "$from, …" for n parameters.
func placeholders(from, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(from + i))
	}
	return b.String()
}
