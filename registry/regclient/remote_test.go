package regclient_test

import (
	"context"
	"encoding/base64"
	"net"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/registry/registrytest"
)

// TestRemoteClient resolves the hunt events through the gRPC API, served on
// the same port as REST, as a gateway running apart from the registry does.
func TestRemoteClient(t *testing.T) {
	t.Parallel()
	reg, local, _ := registrytest.Hunt(t)
	srv, err := registry.NewServer(reg, registry.HandlerOptions{})
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
	remote := regclient.NewClient(regclient.NewRemote(conn), 0)
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
	if _, err := remote.Resolve(ctx, "cairn.hunt.v1.Nope"); !regclient.IsNotFound(err) {
		t.Errorf("remote Resolve(unknown) = %v, want not found", err)
	}
	if _, err := remote.ResolveID(ctx, 4242, []int{0}); !regclient.IsNotFound(err) {
		t.Errorf("remote ResolveID(unknown) = %v, want not found", err)
	}

	// A schema is compiled once, however often its subject's latest
	// version is read: compiling it per refresh was most of a busy
	// gateway's time.
	src := regclient.NewRemote(conn)
	first, err := src.Version(ctx, "cairn.hunt.v1.AnswerSubmitted", -1, false)
	if err != nil {
		t.Fatal(err)
	}
	again, err := src.Version(ctx, "cairn.hunt.v1.AnswerSubmitted", -1, false)
	if err != nil {
		t.Fatal(err)
	}
	byID, err := src.SchemaByID(ctx, first.Schema.ID)
	if err != nil {
		t.Fatal(err)
	}
	if again.Schema != first.Schema || byID != first.Schema {
		t.Error("the same schema id was compiled again")
	}
}

// TestGRPCChecksCredentials: the gRPC API, on the REST API's port, takes
// the REST API's principals.
func TestGRPCChecksCredentials(t *testing.T) {
	t.Parallel()
	reg, _, _ := registrytest.Hunt(t)
	srv, err := registry.NewServer(reg, registry.HandlerOptions{Principals: []registry.Principal{
		{Name: "ci", Username: "ci", Password: "s3cret", Role: registry.RoleSchemaOwner},
		{Name: "gateway", APIKey: "read-key", Role: registry.RoleReader},
	}})
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
	api := registryv1.NewRegistryServiceClient(conn)
	req := &registryv1.RegisterRequest{Subject: "auth.v1.Thing", Schema: &registryv1.SchemaInput{Text: "syntax = \"proto3\"; package auth.v1; message Thing { string id = 1; }"}}
	tests := []struct {
		name  string
		auth  string
		write codes.Code
		read  codes.Code
	}{
		{"no credentials", "", codes.Unauthenticated, codes.OK},
		{"wrong password", "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:nope")), codes.Unauthenticated, codes.Unauthenticated},
		{"reader key", "Bearer read-key", codes.PermissionDenied, codes.OK},
		{"schema owner", "Basic " + base64.StdEncoding.EncodeToString([]byte("ci:s3cret")), codes.OK, codes.OK},
	}
	for _, tt := range tests {
		ctx := t.Context()
		if tt.auth != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, "authorization", tt.auth)
		}
		_, err := api.Register(ctx, req)
		if got := status.Code(err); got != tt.write {
			t.Errorf("%s: Register = %v, want %s", tt.name, err, tt.write)
		}
		_, err = api.ListSubjects(ctx, &registryv1.ListSubjectsRequest{})
		if got := status.Code(err); got != tt.read {
			t.Errorf("%s: ListSubjects = %v, want %s", tt.name, err, tt.read)
		}
	}
}
