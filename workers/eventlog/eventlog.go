// Package eventlog is an application on the workers runtime that logs
// every event it reads, of any registered type, decoded as JSON. cairn dev
// runs it beside the hunt so that a new user sees each event arrive; it
// keeps no tables. Run it on workers.AllTopics so that an event on a topic
// created while it runs is logged too.
package eventlog

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/wire"
	"github.com/cairnhq/cairn/workers"
)

// App logs events. It is safe for concurrent use.
type App struct {
	log *slog.Logger
}

var _ workers.App = (*App)(nil)

// New returns an app logging to log; nil means slog.Default().
func New(log *slog.Logger) *App {
	if log == nil {
		log = slog.Default()
	}
	return &App{log: log}
}

// Inputs implements workers.App: every registered type, decoded from the
// registry's descriptors, so a type registered while the worker runs is
// logged too.
func (a *App) Inputs() workers.Inputs { return workers.Inputs{All: true} }

// Migrations implements workers.App: the log keeps no tables.
func (a *App) Migrations(sqldb.Engine) []string { return nil }

// Apply implements workers.App: it logs each event.
func (a *App) Apply(ctx context.Context, _ *sql.Tx, events []*workers.Event) (workers.Result, error) {
	for _, ev := range events {
		a.log.InfoContext(ctx, "event",
			"type", string(ev.Type.Name()),
			"event_id", ev.Header(wire.HeaderEventID),
			"topic", ev.Topic, "partition", ev.Partition, "offset", ev.Offset,
			"payload", jsonValue{ev.Message})
	}
	return workers.Result{}, nil
}

// jsonValue logs a message as ProtoJSON: nested JSON under a JSON handler,
// a JSON string under a text handler.
type jsonValue struct{ m proto.Message }

func (v jsonValue) LogValue() slog.Value {
	b, err := protojson.Marshal(v.m)
	if err != nil {
		return slog.StringValue("<" + err.Error() + ">")
	}
	return slog.AnyValue(json.RawMessage(b))
}
