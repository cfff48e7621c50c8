package registry_test

import (
	"fmt"
	"testing"

	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/registry/registrytest"
)

// BenchmarkClientResolve is the gateway's lookup per event: a type name to
// its schema id, indexes, descriptor and event options, from the cache.
func BenchmarkClientResolve(b *testing.B) {
	_, c, _ := registrytest.Hunt(b)
	ctx := b.Context()
	if _, err := c.Resolve(ctx, "cairn.hunt.v1.AnswerSubmitted"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Resolve(ctx, "cairn.hunt.v1.AnswerSubmitted"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkClientResolveID is the worker's lookup per record: a schema id
// and message indexes to the type, from the cache.
func BenchmarkClientResolveID(b *testing.B) {
	_, c, _ := registrytest.Hunt(b)
	ctx := b.Context()
	typ, err := c.Resolve(ctx, "cairn.hunt.v1.AnswerSubmitted")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.ResolveID(ctx, typ.SchemaID, typ.Indexes); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRegister measures registering a new schema: compile, check,
// one transaction, index refresh.
func BenchmarkRegister(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			r := open(b, engine)
			ctx := b.Context()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				if _, err := r.Register(ctx, fmt.Sprintf("bench-%d", i), proto3(fmt.Sprintf("message M%d { string id = 1; int64 n = 2; }", i))); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
