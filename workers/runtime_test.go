package workers_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/protobuf/proto"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/workertest"
)

// forEngine runs f on a fresh env on each store engine.
func forEngine(t *testing.T, f func(t *testing.T, e *env)) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		f(t, newEnv(t, engine))
	})
}

// TestExactlyOnce: every event is applied once, duplicates (the same
// event id again) are skipped, refusals are recorded, and each applied
// event's derived event is produced under an id derived from its cause.
func TestExactlyOnce(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		want := make(map[string]int64)
		var ids []string
		for i := range 30 {
			account := fmt.Sprintf("acct-%d", i%4)
			id := workertest.NewID()
			e.produce(t, id, e.depositMsg(account, int64(i+1)))
			want[account] += int64(i + 1)
			ids = append(ids, id)
		}
		// Retries of the first five, as a client retrying would send.
		for i := range 5 {
			e.produce(t, ids[i], e.depositMsg(fmt.Sprintf("acct-%d", i%4), int64(i+1)))
		}
		// An overdraft: refused, its id recorded all the same.
		e.produce(t, workertest.NewID(), e.depositMsg("acct-0", -1_000_000))
		r := e.startWorker(t, "once", ledger{}, nil)
		workertest.Eventually(t, "every record handled", func() error { return handled(t, e.db, 31) })
		if diff := cmp.Diff(want, balances(t, e.db)); diff != "" {
			t.Errorf("balances (-want +got):\n%s", diff)
		}
		for name, want := range map[string]float64{
			"cairn_worker_events_applied_total":          30,
			"cairn_worker_duplicates_skipped_total":      5,
			"cairn_worker_events_rejected_total":         1,
			"cairn_worker_derived_events_produced_total": 30,
		} {
			if got := r.Counter(t, name); got != want {
				t.Errorf("%s = %v, want %v", name, got, want)
			}
		}
		derived := workertest.ReadTopic(t, e.broker.Addr(), balancesTopic, 30)
		seen := make(map[string]bool)
		for _, m := range derived {
			seen[m.Header(wire.HeaderEventID)] = true
			h, _, err := wire.Parse(m.Value)
			if err != nil {
				t.Fatalf("derived record not framed: %v", err)
			}
			typ, err := e.types.ResolveID(t.Context(), h.SchemaID, h.Indexes)
			if err != nil || typ.Name() != "ledger.v1.BalanceChanged" {
				t.Errorf("derived record of schema %d: %v, %v", h.SchemaID, typ, err)
			}
		}
		if len(derived) != 30 || len(seen) != 30 {
			t.Errorf("%d derived records, %d distinct ids; want 30 of each", len(derived), len(seen))
		}
		for _, id := range ids {
			if !seen[workers.DerivedEventID(id, "ledger.v1.BalanceChanged")] {
				t.Errorf("no BalanceChanged derived from %s", id)
				break
			}
		}
	})
}

// TestAppliedIDsPruned: a running worker forgets the ids applied longer
// ago than its retention, so that their table does not grow for good; a
// repeat of a forgotten id is applied again. (TestPruneApplied checks that
// a remembered one is still skipped: here, with a retention short enough
// to wait for, when a repeat arrives is up to the machine.)
func TestAppliedIDsPruned(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		const retention = 300 * time.Millisecond
		var ids []string
		for i := range 5 {
			id := workertest.NewID()
			e.produce(t, id, e.depositMsg("acct", int64(i+1)))
			ids = append(ids, id)
		}
		r := e.startWorker(t, "pruned", ledger{}, func(c *workers.Config) { c.AppliedRetention = retention })
		workertest.Eventually(t, "every id applied, then forgotten", func() error {
			if got := r.Counter(t, "cairn_worker_events_applied_total"); got != 5 {
				return fmt.Errorf("%v events applied, want 5", got)
			}
			if n := countRows(t, e.db, "worker_applied"); n != 0 {
				return fmt.Errorf("%d ids remembered", n)
			}
			return nil
		})
		if got := r.Counter(t, "cairn_worker_applied_ids_pruned_total"); got != 5 {
			t.Errorf("cairn_worker_applied_ids_pruned_total = %v, want 5", got)
		}
		// The first id again, after the retention: applied again.
		e.produce(t, ids[0], e.depositMsg("acct", 1))
		workertest.Eventually(t, "the repeat applied", func() error {
			if got := r.Counter(t, "cairn_worker_events_applied_total"); got != 6 {
				return fmt.Errorf("%v events applied, want 6", got)
			}
			return nil
		})
		if got := r.Counter(t, "cairn_worker_duplicates_skipped_total"); got != 0 {
			t.Errorf("%v duplicates skipped, want none", got)
		}
		if got := balances(t, e.db)["acct"]; got != 1+2+3+4+5+1 {
			t.Errorf("balance %d, want %d", got, 1+2+3+4+5+1)
		}
	})
}

// TestBacklogThroughSmallQueues: a worker that starts behind by many
// times its queue applies every record once, in order per account.
func TestBacklogThroughSmallQueues(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		want := make(map[string]int64)
		for i := range 200 {
			account := fmt.Sprintf("acct-%d", i%7)
			e.produce(t, workertest.NewID(), e.depositMsg(account, int64(i+1)))
			want[account] += int64(i + 1)
		}
		r := e.startWorker(t, "backlog", ledger{}, func(c *workers.Config) { c.QueueSize, c.MaxBatch = 2, 1 })
		workertest.Eventually(t, "every record handled", func() error { return handled(t, e.db, 200) })
		if diff := cmp.Diff(want, balances(t, e.db)); diff != "" {
			t.Errorf("balances (-want +got):\n%s", diff)
		}
		if got := r.Counter(t, "cairn_worker_duplicates_skipped_total"); got != 0 {
			t.Errorf("%v records read twice", got)
		}
	})
}

// stuckLedger is the ledger, but a batch holding a deposit to account
// stuck fails, as a transient failure would, until released.
type stuckLedger struct {
	ledger
	stuck    string
	released *atomic.Bool
}

func (l stuckLedger) Apply(ctx context.Context, tx *sql.Tx, events []*workers.Event) (workers.Result, error) {
	for _, ev := range events {
		m := ev.Message.ProtoReflect()
		if m.Get(m.Descriptor().Fields().ByName("account_id")).String() == l.stuck && !l.released.Load() {
			return workers.Result{}, errors.New("injected: stuck")
		}
	}
	return l.ledger.Apply(ctx, tx, events)
}

// TestStuckPartitionPaused: a partition whose batches do not get through
// is paused once its queue stays full, so that the other partitions go
// on; when its batches get through again it resumes, and applies every
// record once, those dropped while it was paused included.
func TestStuckPartitionPaused(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		// Two accounts whose deposits land in different partitions.
		want := make(map[string]int64)
		partitionOf := make(map[int32]string)
		for i := 0; len(partitionOf) < 2; i++ {
			account := fmt.Sprintf("acct-%d", i)
			pos := e.produce(t, workertest.NewID(), e.depositMsg(account, 1))
			want[account]++
			if _, ok := partitionOf[pos.Partition]; !ok {
				partitionOf[pos.Partition] = account
			}
		}
		var accounts []string
		for _, a := range partitionOf {
			accounts = append(accounts, a)
		}
		stuck, free := accounts[0], accounts[1]
		total := len(want)
		for _, a := range want {
			total += int(a) - 1
		}
		for i := range 30 {
			for _, a := range []string{stuck, free} {
				e.produce(t, workertest.NewID(), e.depositMsg(a, int64(i+2)))
				want[a] += int64(i + 2)
				total++
			}
		}
		released := new(atomic.Bool)
		r := e.startWorker(t, "stuck", stuckLedger{stuck: stuck, released: released}, func(c *workers.Config) {
			c.QueueSize, c.MaxBatch, c.MaxRetryBackoff = 2, 1, 50*time.Millisecond
		})
		workertest.Eventually(t, "the free partition applied, the stuck one paused", func() error {
			if got := balances(t, e.db)[free]; got != want[free] {
				return fmt.Errorf("%s's balance %d, want %d", free, got, want[free])
			}
			if got := r.Counter(t, "cairn_worker_partition_pauses_total"); got < 1 {
				return errors.New("no partition paused")
			}
			return nil
		})
		if got := balances(t, e.db)[stuck]; got != 0 {
			t.Fatalf("%s's balance %d while stuck", stuck, got)
		}
		released.Store(true)
		workertest.Eventually(t, "every record handled", func() error { return handled(t, e.db, total) })
		if diff := cmp.Diff(want, balances(t, e.db)); diff != "" {
			t.Errorf("balances (-want +got):\n%s", diff)
		}
		if got := r.Counter(t, "cairn_worker_duplicates_skipped_total"); got != 0 {
			t.Errorf("%v records read twice", got)
		}
	})
}

// slowLedger is the ledger taking its time over every batch, as a
// partition does that waits for the database while others hold it.
type slowLedger struct {
	ledger
	per time.Duration
}

func (l slowLedger) Apply(ctx context.Context, tx *sql.Tx, events []*workers.Event) (workers.Result, error) {
	select {
	case <-time.After(l.per):
	case <-ctx.Done():
		return workers.Result{}, ctx.Err()
	}
	return l.ledger.Apply(ctx, tx, events)
}

// TestSlowPartitionNotPaused: a partition whose batches are slow but get
// through is waited for, however full its queue, not paused: resuming a
// paused partition costs a fetch's wait, and a pause is a warning.
func TestSlowPartitionNotPaused(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		const account = "slow"
		for range 8 {
			e.produce(t, workertest.NewID(), e.depositMsg(account, 1))
		}
		r := e.startWorker(t, "slow", slowLedger{per: 250 * time.Millisecond}, func(c *workers.Config) {
			c.QueueSize, c.MaxBatch = 1, 1
		})
		workertest.Eventually(t, "every deposit applied", func() error {
			if got := balances(t, e.db)[account]; got != 8 {
				return fmt.Errorf("balance %d, want 8", got)
			}
			return nil
		})
		if got := r.Counter(t, "cairn_worker_partition_pauses_total"); got != 0 {
			t.Errorf("a partition whose batches got through paused %v times", got)
		}
		// Eight batches of 250 ms through a queue of one: the worker
		// waited for room about 1.5 s in all.
		if got := r.Counter(t, "cairn_worker_queue_full_seconds_total"); got < 0.5 {
			t.Errorf("cairn_worker_queue_full_seconds_total = %v, want the waits for room counted", got)
		}
	})
}

// TestPoisonRecordsAreDeadLettered: records no retry can handle go to the
// dead-letter topic with headers saying why and where from, and the
// partition moves on; a registered type the app does not apply is skipped,
// not dead-lettered.
func TestPoisonRecordsAreDeadLettered(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		const account = "poisoned"
		var poisonAt []int64
		for _, v := range [][]byte{
			[]byte("not framed at all"),
			wire.Append(nil, wire.Header{SchemaID: 9999}, []byte{0x0a, 0x01, 'x'}),                                            // no such schema
			wire.Append(nil, wire.Header{SchemaID: e.deposit.SchemaID, Indexes: e.deposit.Indexes}, []byte{0x0a, 0xff, 0x01}), // truncated
		} {
			poisonAt = append(poisonAt, e.produceRaw(t, ledgerTopic, []byte(account), v, workertest.NewID()).Offset)
		}
		// A hunt event on the ledger's topic: registered, not the ledger's.
		other, err := proto.Marshal(&huntv1.PlayerRegistered{PlayerId: account, DisplayName: "x"})
		if err != nil {
			t.Fatal(err)
		}
		pr, err := e.types.Resolve(t.Context(), "cairn.hunt.v1.PlayerRegistered")
		if err != nil {
			t.Fatal(err)
		}
		e.produceRaw(t, ledgerTopic, []byte(account), wire.Append(nil, wire.Header{SchemaID: pr.SchemaID, Indexes: pr.Indexes}, other), workertest.NewID())
		after := e.produce(t, workertest.NewID(), e.depositMsg(account, 7))

		r := e.startWorker(t, "poison", ledger{}, nil)
		workertest.Eventually(t, "the deposit after the poison records", func() error {
			if b := balances(t, e.db)[account]; b != 7 {
				return fmt.Errorf("balance %d", b)
			}
			return nil
		})
		dead := workertest.ReadTopic(t, e.broker.Addr(), workers.DefaultDeadLetterTopic, 3)
		if len(dead) != 3 {
			t.Fatalf("%d dead letters, want 3", len(dead))
		}
		reasons := []string{workers.ReasonUndecodable, workers.ReasonUnknownSchema, workers.ReasonUndecodable}
		for i, m := range dead {
			want := map[string]string{
				wire.HeaderDLQReason:    reasons[i],
				wire.HeaderDLQTopic:     ledgerTopic,
				wire.HeaderDLQPartition: strconv.Itoa(int(after.Partition)),
				wire.HeaderDLQOffset:    strconv.FormatInt(poisonAt[i], 10),
			}
			for k, v := range want {
				if got := m.Header(k); got != v {
					t.Errorf("dead letter %d: header %s = %q, want %q", i, k, got, v)
				}
			}
			if _, err := time.Parse(time.RFC3339Nano, m.Header(wire.HeaderDLQTime)); err != nil {
				t.Errorf("dead letter %d: %s: %v", i, wire.HeaderDLQTime, err)
			}
			if m.Header(wire.HeaderDLQError) == "" {
				t.Errorf("dead letter %d has no %s", i, wire.HeaderDLQError)
			}
		}
		if got := r.Counter(t, "cairn_worker_dead_lettered_total"); got != 3 {
			t.Errorf("dead-lettered = %v, want 3", got)
		}
		if got := r.Counter(t, "cairn_worker_events_skipped_total"); got != 1 {
			t.Errorf("skipped = %v, want 1", got)
		}
	})
}

// TestOffsetOutOfRange saves an offset beyond the end of the log, as after
// the topic was recreated, and checks each policy.
func TestOffsetOutOfRange(t *testing.T) { forEachPolicy(t, testOffsetOutOfRange) }

// forEachPolicy runs test on each engine with each offset policy, in
// parallel.
func forEachPolicy(t *testing.T, test func(*testing.T, *env, workers.OffsetPolicy)) {
	t.Parallel()
	for _, engine := range sqldbtest.Engines {
		for _, policy := range []workers.OffsetPolicy{workers.OffsetEarliest, workers.OffsetLatest, workers.OffsetFail} {
			t.Run(string(engine)+"/"+string(policy), func(t *testing.T) {
				t.Parallel()
				test(t, newEnv(t, engine), policy)
			})
		}
	}
}

func testOffsetOutOfRange(t *testing.T, e *env, policy workers.OffsetPolicy) {
	const account = "reset"
	pos := e.produce(t, workertest.NewID(), e.depositMsg(account, 1))
	e.produce(t, workertest.NewID(), e.depositMsg(account, 2))
	group := "reset-" + string(policy)
	if err := workers.SaveOffset(t.Context(), e.db, ledger{}, group, pos.Topic, pos.Partition, 1000); err != nil {
		t.Fatal(err)
	}
	r := e.startWorker(t, group, ledger{}, func(c *workers.Config) { c.OffsetPolicy = policy })
	workertest.Eventually(t, "the reset counted", func() error {
		if got := r.Counter(t, "cairn_worker_offset_resets_total"); got != 1 {
			return fmt.Errorf("resets = %v", got)
		}
		return nil
	})
	switch policy {
	case workers.OffsetEarliest:
		workertest.Eventually(t, "the balance rebuilt", func() error {
			if b := balances(t, e.db)[account]; b != 3 {
				return fmt.Errorf("balance %d, want 3", b)
			}
			return nil
		})
	case workers.OffsetLatest:
		// A record after the reset is applied; the two before never are.
		later := e.produce(t, workertest.NewID(), e.depositMsg(account, 4))
		workertest.Eventually(t, "the offset after the new record", func() error {
			got, err := workers.SavedOffset(t.Context(), e.db, group, pos.Topic, pos.Partition)
			if err == nil && got != later.Offset+1 {
				err = fmt.Errorf("saved offset %d, want %d", got, later.Offset+1)
			}
			return err
		})
		if b := balances(t, e.db)[account]; b != 4 {
			t.Errorf("balance %d, want 4: the deposits before the reset are skipped", b)
		}
	case workers.OffsetFail:
		if err := r.w.Healthy(); err == nil {
			t.Error("Healthy() = nil after a failed partition")
		}
		time.Sleep(time.Second)
		if got, err := workers.SavedOffset(t.Context(), e.db, group, pos.Topic, pos.Partition); err != nil || got != 1000 {
			t.Errorf("saved offset = %d, %v; want 1000 untouched", got, err)
		}
	}
	if policy != workers.OffsetFail {
		if err := r.w.Healthy(); err != nil {
			t.Errorf("Healthy() = %v", err)
		}
	}
}

// TestLogShrankUnderWorker ends the log below a running worker's
// position, as an unclean leader election truncates it: the broker answers
// the worker's next fetch with OFFSET_OUT_OF_RANGE and says the log ends at
// offset 1. The worker follows its policy, and reads the records from
// there again through the applied event ids, not past them by offset: in
// a truncated log those offsets hold other records; or, failing, stops the
// partition and reports it.
func TestLogShrankUnderWorker(t *testing.T) { forEachPolicy(t, testLogShrank) }

func testLogShrank(t *testing.T, e *env, policy workers.OffsetPolicy) {
	log := newOneLog(t, e)
	const account = "shrunk"
	group := "shrunk-" + string(policy)
	for i := range 3 {
		e.produce(t, workertest.NewID(), e.depositMsg(account, 1<<i))
	}
	start := func() *running {
		return e.startWorker(t, group, ledger{}, func(c *workers.Config) {
			c.Brokers = log.addr
			c.OffsetPolicy = policy
		})
	}
	// One worker applies the three; the next starts from the offset saved,
	// after them, and finds the log ends at 1.
	r := start()
	waitSaved(t, e, group, 3)
	r.Stop(t)
	moved := log.moveOnce(3, 0, 1)
	r = start()
	workertest.Eventually(t, "the reset counted", func() error {
		if got := r.Counter(t, "cairn_worker_offset_resets_total"); got != 1 {
			return fmt.Errorf("resets = %v", got)
		}
		return nil
	})
	moved()

	if policy == workers.OffsetFail {
		// The partition stops where it was, and the worker says why.
		if err := r.w.Healthy(); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("Healthy() = %v, want the partition out of range", err)
		}
		e.produce(t, workertest.NewID(), e.depositMsg(account, 8))
		time.Sleep(time.Second)
		waitSaved(t, e, group, 3)
		if b := balances(t, e.db)[account]; b != 7 {
			t.Errorf("balance %d, want 7: nothing applied after the failure", b)
		}
		return
	}
	// earliest reads offsets 0 to 2 again, latest 1 and 2: every one was
	// applied, and is skipped by its id.
	want := 3.0
	if policy == workers.OffsetLatest {
		want = 2
	}
	workertest.Eventually(t, "the records read again skipped by id", func() error {
		if got := r.Counter(t, "cairn_worker_duplicates_skipped_total"); got != want {
			return fmt.Errorf("duplicates skipped = %v, want %v", got, want)
		}
		return nil
	})
	e.produce(t, workertest.NewID(), e.depositMsg(account, 8))
	waitSaved(t, e, group, 4)
	if b := balances(t, e.db)[account]; b != 15 {
		t.Errorf("balance %d, want 15: each deposit once", b)
	}
	if err := r.w.Healthy(); err != nil {
		t.Errorf("Healthy() = %v", err)
	}
}

// TestLogStartMovedUnderWorker has the log's start pass a running
// worker's position, as retention deletes records a lagging worker has not
// read: the worker goes on from the new start (the default policy).
func TestLogStartMovedUnderWorker(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		log := newOneLog(t, e)
		const account, group = "retained", "retained"
		for i := range 3 {
			e.produce(t, workertest.NewID(), e.depositMsg(account, 1<<i))
		}
		start := func() *running {
			return e.startWorker(t, group, ledger{}, func(c *workers.Config) { c.Brokers = log.addr })
		}
		r := start()
		waitSaved(t, e, group, 3)
		r.Stop(t)
		// Three more, of which the log keeps only the last by the time the
		// worker reads.
		for i := 3; i < 6; i++ {
			e.produce(t, workertest.NewID(), e.depositMsg(account, 1<<i))
		}
		moved := log.moveOnce(3, 5, 6)
		r = start()
		waitSaved(t, e, group, 6)
		moved()
		if b := balances(t, e.db)[account]; b != 1+2+4+32 {
			t.Errorf("balance %d, want %d: the deposits before the log's new start are gone", b, 1+2+4+32)
		}
		if got := r.Counter(t, "cairn_worker_offset_resets_total"); got != 1 {
			t.Errorf("resets = %v, want 1", got)
		}
		if err := r.w.Healthy(); err != nil {
			t.Errorf("Healthy() = %v", err)
		}
	})
}

// waitSaved waits until group's saved offset of the ledger's partition 0
// is want.
func waitSaved(t *testing.T, e *env, group string, want int64) {
	t.Helper()
	workertest.Eventually(t, fmt.Sprintf("saved offset %d", want), func() error {
		got, err := workers.SavedOffset(t.Context(), e.db, group, ledgerTopic, 0)
		if err == nil && got != want {
			err = fmt.Errorf("saved offset %d", got)
		}
		return err
	})
}

// oneLog is a broker of its own whose ledger topic has one partition, so
// that a worker's fetches ask for that partition alone; it can have the
// partition's log move under the worker.
type oneLog struct {
	cluster *kfake.Cluster
	addr    string
}

// newOneLog starts a oneLog, closed when the test ends, and points e's
// producer at it.
func newOneLog(t *testing.T, e *env) *oneLog {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, ledgerTopic, balancesTopic, workers.DefaultDeadLetterTopic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	l := &oneLog{cluster: cluster, addr: cluster.ListenAddrs()[0]}
	e.producer = workertest.Producer(t, l.addr)
	return l
}

// moveOnce answers the first fetch from offset from or later with
// OFFSET_OUT_OF_RANGE, as a broker does when the log no longer holds the
// offset, and from then until the function it returns is called says the
// log holds offsets low to high (high: the offset after its last record).
// Until that fetch the log's offsets are its own: a worker starting reads
// them before it fetches.
func (l *oneLog) moveOnce(from, low, high int64) func() {
	var moved atomic.Bool
	l.cluster.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		f := req.(*kmsg.FetchRequest)
		resp := f.ResponseKind().(*kmsg.FetchResponse)
		for _, rt := range f.Topics {
			st := kmsg.NewFetchResponseTopic()
			st.Topic, st.TopicID = rt.Topic, rt.TopicID
			for _, rp := range rt.Partitions {
				if rp.FetchOffset < from {
					return nil, nil, false
				}
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.OffsetOutOfRange.Code
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
				sp.RecordBatches = []byte{}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		moved.Store(true)
		return resp, nil, true
	})
	l.cluster.ControlKey(int16(kmsg.ListOffsets), func(req kmsg.Request) (kmsg.Response, error, bool) {
		l.cluster.KeepControl()
		if !moved.Load() {
			return nil, nil, false
		}
		r := req.(*kmsg.ListOffsetsRequest)
		resp := r.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewListOffsetsResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewListOffsetsResponseTopicPartition()
				sp.Partition, sp.LeaderEpoch, sp.Timestamp = rp.Partition, rp.CurrentLeaderEpoch, -1
				sp.Offset = high
				if rp.Timestamp == -2 { // the earliest
					sp.Offset = low
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	return func() { moved.Store(false) }
}

// TestCrashSafety kills workers at random moments while events flow, then
// lets one finish: every deposit counts once, and every derived event is
// produced, under one id each.
func TestCrashSafety(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
		want := make(map[string]int64)
		flowing := make(chan struct{})
		produced := make(chan int, 1)
		go func() {
			defer close(produced)
			n := 0
			for i := range 240 {
				account := fmt.Sprintf("acct-%d", i%9)
				e.produce(t, workertest.NewID(), e.depositMsg(account, int64(i+1)))
				want[account] += int64(i + 1)
				n++
				if i == 10 {
					close(flowing)
				}
			}
			produced <- n
		}()
		<-flowing
		for i := range 5 {
			r := e.startWorker(t, "crashy", ledger{}, func(c *workers.Config) { c.MaxBatch = 7 })
			time.Sleep(time.Duration(200+rng.IntN(1200)) * time.Millisecond)
			workers.Crash(r.w)
			select {
			case <-r.Done():
			case <-time.After(60 * time.Second):
				t.Fatalf("crash %d: worker did not stop", i)
			}
		}
		total := <-produced
		e.startWorker(t, "crashy", ledger{}, nil)
		workertest.Eventually(t, "all events applied", func() error {
			if n := countRows(t, e.db, "worker_applied"); n < total {
				return fmt.Errorf("%d of %d events applied", n, total)
			}
			if n := countRows(t, e.db, "worker_outbox_batches"); n != 0 {
				return fmt.Errorf("%d batches of derived events unsent", n)
			}
			return nil
		})
		if diff := cmp.Diff(want, balances(t, e.db)); diff != "" {
			t.Errorf("balances after crashes (-want +got):\n%s", diff)
		}
		// Every event derived one, under an id its cause fixes: as many
		// distinct ids in the topic as events, none lost and none derived
		// twice under two ids. The outbox keeps none of them once sent.
		if n := countRows(t, e.db, "worker_outbox_batches"); n != 0 {
			t.Errorf("%d batches of derived events left in the outbox", n)
		}
		inTopic := make(map[string]int)
		for _, m := range workertest.ReadTopic(t, e.broker.Addr(), balancesTopic, total) {
			inTopic[m.Header(wire.HeaderEventID)]++
		}
		if len(inTopic) != total {
			t.Errorf("%d distinct derived events in the topic, want %d: %v", len(inTopic), total, slices.Sorted(maps.Keys(inTopic))[:3])
		}
	})
}

// faultyProducer is the test's producer with faults injected into the
// relay: the failSend-th Send fails, and the failWait-th record sent is
// refused, as Kafka refuses a record (1-based; 0: never). Neither reaches
// Kafka.
type faultyProducer struct {
	*kafkax.Producer
	failSend, failWait int32
	sends, faults      atomic.Int32
}

func (f *faultyProducer) Send(r kafkax.Record) (kafkax.Wait, error) {
	switch f.sends.Add(1) {
	case f.failSend:
		f.faults.Add(1)
		return nil, errors.New("injected: the record was not handed over")
	case f.failWait:
		f.faults.Add(1)
		return func(context.Context, time.Time) (kafkax.Position, error) {
			return kafkax.Position{}, errors.New("injected: Kafka refused the record")
		}, nil
	}
	return f.Producer.Send(r)
}

// TestRelayFailureProducesTheOutboxAgain: derived events are handed to
// Kafka while the next batch applies; when one cannot be handed over, or
// Kafka refuses one, the partition produces the outbox again from the
// database, so that every derived event still reaches Kafka and is marked
// sent.
func TestRelayFailureProducesTheOutboxAgain(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		fp := &faultyProducer{Producer: e.producer, failWait: 3, failSend: 12}
		var ids []string
		for i := range 30 {
			id := workertest.NewID()
			e.produce(t, id, e.depositMsg("acct", int64(i+1)))
			ids = append(ids, id)
		}
		e.startWorker(t, "faulty", ledger{}, func(c *workers.Config) { c.Producer = fp; c.MaxBatch = 4 })
		workertest.Eventually(t, "every record applied and its derived event sent", func() error { return handled(t, e.db, 30) })
		if n := fp.faults.Load(); n != 2 {
			t.Fatalf("%d faults injected, want 2: the relay did not take the path under test", n)
		}
		seen := make(map[string]bool)
		for _, m := range workertest.ReadTopic(t, e.broker.Addr(), balancesTopic, 30) {
			seen[m.Header(wire.HeaderEventID)] = true
		}
		for _, id := range ids {
			if !seen[workers.DerivedEventID(id, "ledger.v1.BalanceChanged")] {
				t.Errorf("no BalanceChanged derived from %s reached Kafka", id)
			}
		}
	})
}
