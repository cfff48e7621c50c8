package regclient_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/registry/registrytest"
)

// gatedSource counts the questions asked of a source and holds each until
// the test lets it through.
type gatedSource struct {
	regclient.Source
	asked atomic.Int32
	gate  chan struct{}
	fail  atomic.Bool
}

func (s *gatedSource) Version(ctx context.Context, subject string, version int, deleted bool) (*regclient.SubjectVersion, error) {
	s.asked.Add(1)
	select {
	case <-s.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if s.fail.Load() {
		return nil, errors.New("registry unreachable")
	}
	return s.Source.Version(ctx, subject, version, deleted)
}

const answerSubmitted = protoreflect.FullName("cairn.hunt.v1.AnswerSubmitted")

// TestResolveAsksOnceForManyCallers is the stampede a busy gateway made:
// every event in flight when a type's cache entry expired asked the
// registry (and compiled its answer) at once. Now one asks; the callers
// that come meanwhile keep the type known so far, or wait for the one
// answer when there is none yet.
func TestResolveAsksOnceForManyCallers(t *testing.T) {
	t.Parallel()
	reg, _, _ := registrytest.Hunt(t)
	src := &gatedSource{Source: reg, gate: make(chan struct{})}
	const maxAge = 50 * time.Millisecond
	c := regclient.NewClient(src, maxAge)
	ctx := t.Context()

	// Nothing known yet: 64 callers wait for one question.
	var wg sync.WaitGroup
	types := make([]*regclient.Type, 64)
	for i := range types {
		wg.Go(func() {
			typ, err := c.Resolve(ctx, answerSubmitted)
			if err != nil {
				t.Errorf("Resolve: %v", err)
			}
			types[i] = typ
		})
	}
	for src.asked.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // let the others arrive and wait
	close(src.gate)
	wg.Wait()
	if n := src.asked.Load(); n != 1 {
		t.Errorf("64 callers with nothing cached asked the registry %d times, want 1", n)
	}
	for _, typ := range types[1:] {
		if typ != types[0] {
			t.Fatal("callers sharing one answer got different types")
		}
	}

	// Expired: one caller asks, and the others keep the known type
	// without waiting, even while the registry does not answer.
	src.gate = make(chan struct{})
	time.Sleep(2 * maxAge)
	asking := make(chan *regclient.Type)
	go func() {
		typ, err := c.Resolve(ctx, answerSubmitted)
		if err != nil {
			t.Errorf("Resolve: %v", err)
		}
		asking <- typ
	}()
	for src.asked.Load() == 1 {
		time.Sleep(time.Millisecond)
	}
	for range 64 {
		typ, err := c.Resolve(ctx, answerSubmitted)
		if err != nil || typ != types[0] {
			t.Fatalf("Resolve while another caller asks the registry = %p, %v; want the known type at once", typ, err)
		}
	}
	close(src.gate)
	if typ := <-asking; typ.SchemaID != types[0].SchemaID {
		t.Errorf("the refreshed type has schema id %d, want %d (nothing was registered)", typ.SchemaID, types[0].SchemaID)
	}
	if n := src.asked.Load(); n != 2 {
		t.Errorf("the registry was asked %d times, want 2", n)
	}

	// Unreachable: the known type is served, and asked for again only
	// after MaxAge, not on every call.
	src.fail.Store(true)
	time.Sleep(2 * maxAge)
	for range 10 {
		if typ, err := c.Resolve(ctx, answerSubmitted); err != nil || typ == nil {
			t.Fatalf("Resolve with the registry unreachable = %v, %v; want the known type", typ, err)
		}
	}
	if n := src.asked.Load(); n != 3 {
		t.Errorf("with the registry unreachable it was asked %d times in 10 calls, want 1 more (3)", n)
	}
}

// TestResolveWaitGivesUpWithItsContext: a caller waiting for another's
// question stops waiting when its own context ends.
func TestResolveWaitGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	reg, _, _ := registrytest.Hunt(t)
	src := &gatedSource{Source: reg, gate: make(chan struct{})}
	defer close(src.gate)
	c := regclient.NewClient(src, time.Minute)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Resolve(ctx, answerSubmitted); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Resolve with the registry silent = %v, want the caller's deadline", err)
	}
}
