package huntapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"buf.build/go/protovalidate"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry/registrytest"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/hunt"
)

// TestCacheSeesEveryWrite plays games in batches through several entrant
// caches on one database, as workers taking a hunt's partition from one
// another do, and rolls some batches back after they were applied (as a
// failed commit or a fenced worker does) before applying them again. The
// derived events and the standings match the rules' after every batch: no
// cache serves an entrant the rows no longer hold.
func TestCacheSeesEveryWrite(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		workers, limit   int
		rollbackPercent  int
		wantCachedAtLast bool
	}{
		{name: "one worker", workers: 1, limit: DefaultCachedEntrants, wantCachedAtLast: true},
		{name: "rolled back", workers: 1, limit: DefaultCachedEntrants, rollbackPercent: 30},
		{name: "three workers", workers: 3, limit: DefaultCachedEntrants, rollbackPercent: 10},
		{name: "small cache", workers: 1, limit: 7},
	} {
		for _, engine := range sqldbtest.Engines {
			t.Run(tc.name+"/"+string(engine), func(t *testing.T) {
				t.Parallel()
				ctx := context.Background()
				db := openDB(t, engine)
				caches := make([]*entrantCache, tc.workers)
				for i := range caches {
					caches[i] = newEntrantCache(tc.limit)
				}
				ids := rankIDs(engine)
				r := rand.New(rand.NewPCG(uint64(tc.workers), uint64(tc.rollbackPercent)))
				evs := inputs(rankGame(r, ids)...)
				var want hunt.State
				for rest := evs; len(rest) > 0; {
					n := min(len(rest), 1+r.IntN(40))
					c := caches[r.IntN(len(caches))]
					if r.IntN(100) < tc.rollbackPercent {
						if _, err := applyRolledBack(ctx, db, c, rest[:n]); err != nil {
							t.Fatal(err)
						}
						c = caches[r.IntN(len(caches))]
					}
					var wantDerived []proto.Message
					for _, ev := range rest[:n] {
						d, _ := want.Apply(ev.EventID, ev.ReceivedAt, ev.Message)
						wantDerived = append(wantDerived, d...)
					}
					res, err := applyWith(ctx, db, c, rest[:n])
					if err != nil {
						t.Fatal(err)
					}
					var gotDerived []proto.Message
					for _, d := range res.Derived {
						gotDerived = append(gotDerived, d.Message)
					}
					rest = rest[n:]
					if diff := cmp.Diff(wantDerived, gotDerived, protocmp.Transform()); diff != "" {
						t.Fatalf("%d events left: derived events differ (-rules +rows):\n%s", len(rest), diff)
					}
					checkRanks(t, ctx, db, &want, ids, fmt.Sprintf("%d events left", len(rest)))
					for _, c := range caches {
						if c.len() > tc.limit {
							t.Fatalf("a cache holds %d entrants, more than its %d", c.len(), tc.limit)
						}
					}
				}
				if tc.wantCachedAtLast && caches[0].len() < len(want.Hunts["h"].Entrants)/2 {
					t.Fatalf("the cache holds %d entrants of %d", caches[0].len(), len(want.Hunts["h"].Entrants))
				}
			})
		}
	}
}

// applyWith applies events in one transaction of db with cache c.
func applyWith(ctx context.Context, db *sqldb.DB, c *entrantCache, events []*workers.Event) (workers.Result, error) {
	return applyCache(ctx, db, c, events, false)
}

// applyRolledBack applies events with cache c in a transaction of db that
// it then rolls back.
func applyRolledBack(ctx context.Context, db *sqldb.DB, c *entrantCache, events []*workers.Event) (workers.Result, error) {
	res, err := applyCache(ctx, db, c, events, true)
	if !errors.Is(err, errRollBack) {
		return res, fmt.Errorf("rolling back: %v", err)
	}
	return res, nil
}

// errRollBack rolls applyCache's transaction back.
var errRollBack = errors.New("rolled back")

// applyCache applies events with cache c in a transaction of db, and
// rolls it back when rollBack is true.
func applyCache(ctx context.Context, db *sqldb.DB, c *entrantCache, events []*workers.Event, rollBack bool) (workers.Result, error) {
	var res workers.Result
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		p, _ := prepared.Load(db)
		stmts, _ := p.(*sqldb.Prepared)
		var err error
		if res, err = applyBatch(ctx, stmts.Tx(tx), db.Engine, c, events); err != nil {
			return err
		}
		if rollBack {
			return errRollBack
		}
		return nil
	})
	return res, err
}

// TestCacheDropsAHuntWrittenTwiceFromOneStamp checks the cache alone: two
// batches that read a hunt at one stamp and both wrote it (which batches
// of one hunt, never run at once, do not do) leave the hunt uncached,
// and a stamp no batch wrote (0) caches nothing.
func TestCacheDropsAHuntWrittenTwiceFromOneStamp(t *testing.T) {
	t.Parallel()
	c := newEntrantCache(10)
	e := func(id string, pos int) hunt.Entrant { return hunt.Entrant{PlayerID: id, Position: pos} }
	c.keep("h", 0, 5, nil, []hunt.Entrant{e("a", 1), e("b", 1)})
	var got []hunt.Entrant
	missing := c.take("h", 5, []string{"a", "c"}, func(e hunt.Entrant) { got = append(got, e) })
	if len(got) != 1 || got[0].PlayerID != "a" || len(missing) != 1 || missing[0] != "c" {
		t.Fatalf("take at the stamp kept: got %v, missing %v", got, missing)
	}
	c.keep("h", 5, 6, nil, []hunt.Entrant{e("a", 2)})
	c.keep("h", 5, 7, nil, []hunt.Entrant{e("b", 2)})
	if c.len() != 0 {
		t.Fatalf("the hunt written twice from one stamp is still cached: %d entrants", c.len())
	}
	if missing := c.take("h", 7, []string{"b"}, func(hunt.Entrant) { t.Fatal("served an entrant of a dropped hunt") }); len(missing) != 1 {
		t.Fatalf("missing %v", missing)
	}
	c.keep("h", 0, 0, []hunt.Entrant{e("a", 1)}, nil)
	if c.len() != 0 {
		t.Fatalf("entrants read at stamp 0 were cached: %d", c.len())
	}
	for i := range 25 {
		c.keep(fmt.Sprintf("h%d", i), 1, 2, []hunt.Entrant{e("a", 1)}, nil)
		if c.len() > 10 {
			t.Fatalf("%d entrants cached, more than 10", c.len())
		}
	}
}

// TestCacheMetrics checks cairn_worker_entrants_read_total through the
// app: entrants a batch joined are found in the cache by the next, and a
// player who never joined is read from the database.
func TestCacheMetrics(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t, sqldb.SQLite)
	_, types, _ := registrytest.Hunt(t)
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	a, err := New(Config{DB: db, Registry: types, Brokers: "127.0.0.1:1", Group: "g", Validator: v, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	for i, batch := range [][]proto.Message{
		{
			testHunt("h", 0),
			&huntv1.PlayerRegistered{PlayerId: "p1", DisplayName: "Pat", RegisteredAt: ts(-1)},
			&huntv1.PlayerRegistered{PlayerId: "p2", DisplayName: "Sam", RegisteredAt: ts(-1)},
			&huntv1.PlayerJoinedHunt{HuntId: "h", PlayerId: "p1", JoinedAt: ts(1)},
			&huntv1.PlayerJoinedHunt{HuntId: "h", PlayerId: "p2", JoinedAt: ts(1)},
		},
		{ans("h", "p1", "c1", "a", 2), ans("h", "p2", "c1", "x", 2)},
		{ans("h", "p3", "c1", "a", 3)}, // never joined
	} {
		err := db.Tx(ctx, func(tx *sql.Tx) error {
			_, err := a.Apply(ctx, tx, inputs(batch...))
			return err
		})
		if err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := make(map[string]float64)
	for _, mf := range mfs {
		if mf.GetName() != "cairn_worker_entrants_read_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				got[l.GetName()+"="+l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	if want := map[string]float64{"from=cache": 2, "from=database": 1}; !maps.Equal(got, want) {
		t.Errorf("entrants read: %v, want %v", got, want)
	}
}
