package registry_test

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Schemas the tests register: a dependency, a schema importing it, and
// two changes to the latter, one compatible and one not.
const (
	commonProto = `syntax = "proto3";
package deps;

message Money {
  string currency = 1;
  int64 units = 2;
}
`
	orderProto = `syntax = "proto3";
package shop;

import "deps/common.proto";

message Order {
  string id = 1;
  deps.Money total = 2;
}
`
	// orderProtoV2 adds a field: compatible.
	orderProtoV2 = `syntax = "proto3";
package shop;

import "deps/common.proto";

message Order {
  string id = 1;
  deps.Money total = 2;
  string note = 3;
}
`
	// orderProtoBroken turns a string into a number: incompatible.
	orderProtoBroken = `syntax = "proto3";
package shop;

import "deps/common.proto";

message Order {
  int64 id = 1;
  deps.Money total = 2;
}
`
	// plainProto has no imports.
	plainProto = `syntax = "proto3";
package plain;

message Ping {
  string id = 1;
}
`
)

// commonRef is how orderProto refers to commonProto registered as version
// 1 of subject "deps/common.proto".
var commonRef = regclient.Reference{Name: "deps/common.proto", Subject: "deps/common.proto", Version: 1}

// openRegistry opens a registry on a fresh SQLite file in t's temporary
// directory, closed when t ends. It logs at debug level into the returned
// buffer, which tests may inspect.
func openRegistry(t testing.TB) (*registry.Registry, *slog.Logger, *syncBuffer) {
	t.Helper()
	ctx := t.Context()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	logs := new(syncBuffer)
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg, err := registry.Open(ctx, registry.Options{DB: db, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	return reg, logger, logs
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
