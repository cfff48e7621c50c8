package registry_test

import (
	"context"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/registrytest"
)

// TestRemoteClient resolves the hunt events through the gRPC API, served on
// the same port as REST, as a gateway running apart from the registry does.
func TestRemoteClient(t *testing.T) {
	t.Parallel()
	reg, local, _ := registrytest.Hunt(t)
	srv, err := registry.NewServer(reg, http.NotFoundHandler())
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	remote := registry.NewClient(registry.NewRemote(conn), 0)
	ctx := t.Context()
	for _, name := range []string{"cairn.hunt.v1.PlayerRegistered", "cairn.hunt.v1.AnswerSubmitted", "cairn.hunt.v1.HuntCompleted"} {
		want, err := local.Resolve(ctx, protoreflect.FullName(name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := remote.Resolve(ctx, protoreflect.FullName(name))
		if err != nil {
			t.Fatalf("remote Resolve(%s): %v", name, err)
		}
		if got.SchemaID != want.SchemaID || !slices.Equal(got.Indexes, want.Indexes) || got.Event.GetTopic() != want.Event.GetTopic() || got.KeyField().Name() != want.KeyField().Name() {
			t.Errorf("%s: remote %+v, local %+v", name, got, want)
		}
		// The remote descriptor carries the protovalidate rules: the
		// fields' options are typed, not unknown bytes.
		if got.Descriptor.Fields().Len() != want.Descriptor.Fields().Len() {
			t.Errorf("%s: %d fields remotely, %d locally", name, got.Descriptor.Fields().Len(), want.Descriptor.Fields().Len())
		}
		byID, err := remote.ResolveID(ctx, want.SchemaID, want.Indexes)
		if err != nil || byID.Name() != want.Name() {
			t.Errorf("remote ResolveID(%d) = %v, %v", want.SchemaID, byID, err)
		}
	}
	if _, err := remote.Resolve(ctx, "cairn.hunt.v1.Nope"); !registry.IsNotFound(err) {
		t.Errorf("remote Resolve(unknown) = %v, want not found", err)
	}
	if _, err := remote.ResolveID(ctx, 4242, []int{0}); !registry.IsNotFound(err) {
		t.Errorf("remote ResolveID(unknown) = %v, want not found", err)
	}
}
