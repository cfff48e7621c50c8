// Package registrytest gives tests a schema registry on a SQLite file in
// the test's temporary directory, holding Cairn's hunt schemas.
package registrytest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Hunt returns a registry holding the hunt schemas, a client reading it,
// and the topics the hunt events go to. Everything is closed when the test
// ends.
func Hunt(t testing.TB) (*registry.Registry, *regclient.Client, []string) {
	t.Helper()
	ctx := context.Background()
	db, err := sqldb.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r, err := registry.Open(ctx, registry.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	files, err := schemas.Hunt()
	if err != nil {
		t.Fatal(err)
	}
	if err := regclient.RegisterFiles(ctx, r, files...); err != nil {
		t.Fatal(err)
	}
	return r, regclient.NewClient(r, 0), schemas.Topics(files)
}
