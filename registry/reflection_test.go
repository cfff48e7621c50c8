package registry_test

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
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry"
)

// serveRegistry serves reg's REST and gRPC APIs on a loopback port until t
// ends, and returns a gRPC connection to it.
func serveRegistry(t *testing.T, reg *registry.Registry, opts registry.HandlerOptions) *grpc.ClientConn {
	t.Helper()
	srv, err := registry.NewServer(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// reflect sends one server reflection request and returns its answer.
func reflect(ctx context.Context, conn *grpc.ClientConn, req *reflectionpb.ServerReflectionRequest) (*reflectionpb.ServerReflectionResponse, error) {
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(req); err != nil {
		return nil, err
	}
	resp, err := stream.Recv()
	if err != nil {
		return nil, err
	}
	if err := stream.CloseSend(); err != nil {
		return nil, err
	}
	return resp, nil
}

// TestGRPCReflection: grpcurl's two questions, which services there are and
// what one of them looks like, are answered on the registry's port.
func TestGRPCReflection(t *testing.T) {
	t.Parallel()
	reg, _, _ := openRegistry(t)
	conn := serveRegistry(t, reg, registry.HandlerOptions{})
	ctx := t.Context()

	resp, err := reflect(ctx, conn, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, registryv1.RegistryService_ServiceDesc.ServiceName) {
		t.Errorf("services %v lack %s", names, registryv1.RegistryService_ServiceDesc.ServiceName)
	}

	resp, err = reflect(ctx, conn, &reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: registryv1.RegistryService_ServiceDesc.ServiceName},
	})
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, raw := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		var fd descriptorpb.FileDescriptorProto
		if err := proto.Unmarshal(raw, &fd); err != nil {
			t.Fatal(err)
		}
		for _, svc := range fd.GetService() {
			if fd.GetPackage()+"."+svc.GetName() != registryv1.RegistryService_ServiceDesc.ServiceName {
				continue
			}
			for _, m := range svc.GetMethod() {
				methods = append(methods, m.GetName())
			}
		}
	}
	for _, want := range []string{"Register", "LookUp", "GetSchema", "CheckCompatibility"} {
		if !slices.Contains(methods, want) {
			t.Errorf("described methods %v lack %s", methods, want)
		}
	}
}

// TestGRPCReflectionProtectedReads: reflection is a read, refused without
// credentials when reads are protected.
func TestGRPCReflectionProtectedReads(t *testing.T) {
	t.Parallel()
	reg, _, _ := openRegistry(t)
	conn := serveRegistry(t, reg, registry.HandlerOptions{
		Principals:   []registry.Principal{{Name: "ci", Username: "ci", Password: "s3cret", Role: registry.RoleReader}},
		ProtectReads: true,
	})
	list := &reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{ListServices: "*"}}
	if _, err := reflect(t.Context(), conn, list); status.Code(err) != codes.Unauthenticated {
		t.Errorf("reflection without credentials = %v, want Unauthenticated", err)
	}
	ctx := metadata.AppendToOutgoingContext(t.Context(), "authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("ci:s3cret")))
	if _, err := reflect(ctx, conn, list); err != nil {
		t.Errorf("reflection as a reader: %v", err)
	}
}
