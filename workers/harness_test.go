package workers_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/internal/wire"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/registry/registrytest"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/workertest"
)

// The runtime is tested with a small app that is not the hunt: a ledger.
// Its types are registered at run time, from .proto text, and exist in no
// Go package: the runtime decodes them from the registry's descriptors.
const ledgerProto = `syntax = "proto3";

package ledger.v1;

import "cairn/options/v1/options.proto";

// Deposited: money paid into (or, negative, out of) an account.
message Deposited {
  option (cairn.options.v1.event) = {
    topic: "ledger.events"
    key_field: "account_id"
  };
  string account_id = 1;
  int64 amount = 2;
}

// BalanceChanged: an account's balance after a deposit. Derived.
message BalanceChanged {
  option (cairn.options.v1.event) = {
    topic: "ledger.balances"
    key_field: "account_id"
  };
  string account_id = 1;
  int64 balance = 2;
}
`

const (
	ledgerTopic   = "ledger.events"
	balancesTopic = "ledger.balances"
)

// ledger is the test app: it keeps each account's balance, refuses a
// deposit that would overdraw, and derives a BalanceChanged from each
// deposit it applies.
type ledger struct{}

func (ledger) Inputs() workers.Inputs {
	return workers.Inputs{Types: []protoreflect.FullName{"ledger.v1.Deposited"}}
}

func (ledger) Migrations(sqldb.Engine) []string {
	return []string{`CREATE TABLE ledger_balances (account_id TEXT PRIMARY KEY, balance BIGINT NOT NULL)`}
}

func (ledger) Apply(ctx context.Context, tx *sql.Tx, events []*workers.Event) (workers.Result, error) {
	var res workers.Result
	for _, ev := range events {
		m := ev.Message.ProtoReflect()
		fields := m.Descriptor().Fields()
		account := m.Get(fields.ByName("account_id")).String()
		amount := m.Get(fields.ByName("amount")).Int()
		var balance int64
		err := tx.QueryRowContext(ctx, `SELECT balance FROM ledger_balances WHERE account_id = $1`, account).Scan(&balance)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return res, err
		}
		if balance+amount < 0 {
			res.Rejected = append(res.Rejected, workers.Rejection{Event: ev, Reason: "overdrawn", Detail: fmt.Sprintf("%d + %d", balance, amount)})
			continue
		}
		balance += amount
		if _, err := tx.ExecContext(ctx, `INSERT INTO ledger_balances (account_id, balance) VALUES ($1, $2)
			ON CONFLICT (account_id) DO UPDATE SET balance = excluded.balance`, account, balance); err != nil {
			return res, err
		}
		md := m.Descriptor().ParentFile().Messages().ByName("BalanceChanged")
		d := dynamicpb.NewMessage(md)
		d.Set(md.Fields().ByName("account_id"), protoreflect.ValueOfString(account))
		d.Set(md.Fields().ByName("balance"), protoreflect.ValueOfInt64(balance))
		res.Derived = append(res.Derived, workers.Derived{Cause: ev, Key: []byte(account), Message: d})
	}
	return res, nil
}

// env is a broker, a registry holding the ledger, a producer and a store
// database.
type env struct {
	broker   *devbroker.Broker
	reg      *registry.Registry
	types    *regclient.Client
	producer *kafkax.Producer
	db       *sqldb.DB
	deposit  *regclient.Type
}

func newEnv(t testing.TB, engine sqldb.Engine) *env {
	t.Helper()
	reg, types, _ := registrytest.Hunt(t)
	for _, subject := range []string{"ledger.v1.Deposited", "ledger.v1.BalanceChanged"} {
		if _, err := reg.Register(t.Context(), subject, regclient.SchemaInput{
			Text:       ledgerProto,
			References: []regclient.Reference{{Name: "cairn/options/v1/options.proto", Subject: "cairn/options/v1/options.proto", Version: 1}},
		}); err != nil {
			t.Fatalf("register %s: %v", subject, err)
		}
	}
	deposit, err := types.Resolve(t.Context(), "ledger.v1.Deposited")
	if err != nil {
		t.Fatal(err)
	}
	broker, producer := workertest.Kafka(t, ledgerTopic, balancesTopic, "cairn.player.events", workers.DefaultDeadLetterTopic)
	var db *sqldb.DB
	if engine != "" {
		db = sqldbtest.Open(t, engine)
	}
	return &env{broker: broker, reg: reg, types: types, producer: producer, db: db, deposit: deposit}
}

// running is a worker running in the background.
type running struct {
	*workertest.Running
	w *workers.Worker
}

func (e *env) startWorker(t testing.TB, group string, app workers.App, mod func(*workers.Config)) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := workers.Config{
		Brokers:      e.broker.Addr(),
		Group:        group,
		Topics:       []string{ledgerTopic},
		App:          app,
		Registry:     e.types,
		DB:           e.db,
		Producer:     e.producer,
		Metrics:      reg,
		RetryBackoff: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := workers.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &running{Running: workertest.Start(t, w, reg), w: w}
}

// depositMsg builds a ledger.v1.Deposited.
func (e *env) depositMsg(account string, amount int64) proto.Message {
	md := e.deposit.Descriptor
	m := dynamicpb.NewMessage(md)
	m.Set(md.Fields().ByName("account_id"), protoreflect.ValueOfString(account))
	m.Set(md.Fields().ByName("amount"), protoreflect.ValueOfInt64(amount))
	return m
}

// produce frames an event as the gateway does and produces it, returning
// where it landed.
func (e *env) produce(t testing.TB, eventID string, m proto.Message) kafkax.Position {
	t.Helper()
	typ, err := e.types.Resolve(context.Background(), m.ProtoReflect().Descriptor().FullName())
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return e.produceRaw(t, typ.Event.GetTopic(),
		[]byte(m.ProtoReflect().Get(typ.KeyField()).String()),
		wire.Append(nil, wire.Header{SchemaID: typ.SchemaID, Indexes: typ.Indexes}, payload),
		eventID)
}

func (e *env) produceRaw(t testing.TB, topic string, key, value []byte, eventID string) kafkax.Position {
	t.Helper()
	rec := kafkax.Record{Topic: topic, Key: key, Value: value}
	if eventID != "" {
		rec.Headers = []kafkax.Header{{Key: wire.HeaderEventID, Value: []byte(eventID)}}
	}
	pos, err := e.producer.ProduceBatch(context.Background(), []kafkax.Record{rec})
	if err != nil {
		t.Fatal(err)
	}
	return pos[0]
}

// balances reads the ledger's table.
func balances(t testing.TB, db *sqldb.DB) map[string]int64 {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), `SELECT account_id, balance FROM ledger_balances`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := make(map[string]int64)
	for rows.Next() {
		var a string
		var b int64
		if err := rows.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		out[a] = b
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func countRows(t testing.TB, db *sqldb.DB, from string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+from).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func column(t testing.TB, db *sqldb.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// handled reports, for workertest.Eventually, whether want event ids are
// recorded as applied and every derived event is sent.
func handled(t testing.TB, db *sqldb.DB, want int) error {
	t.Helper()
	if n := countRows(t, db, "worker_applied"); n != want {
		return fmt.Errorf("%d event ids recorded, want %d", n, want)
	}
	if n := countRows(t, db, "worker_outbox_batches"); n != 0 {
		return fmt.Errorf("%d batches of derived events unsent", n)
	}
	return nil
}
