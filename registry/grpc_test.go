package registry_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net"
	"path/filepath"
	"regexp"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/cairnhq/cairn/internal/sqldb"
	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry"
)

const (
	moneyProto = `syntax = "proto3";
package cairn.test.deps;
message Money {
  string currency = 1;
  int64 units = 2;
}
`
	orderV1 = `syntax = "proto3";
package cairn.test.v1;
import "deps/common.proto";
message Order {
  string id = 1;
  cairn.test.deps.Money total = 2;
}
`
	// orderV2 adds a field: compatible at every level.
	orderV2 = `syntax = "proto3";
package cairn.test.v1;
import "deps/common.proto";
message Order {
  string id = 1;
  cairn.test.deps.Money total = 2;
  string note = 3;
}
`
	// orderV3 adds another field.
	orderV3 = `syntax = "proto3";
package cairn.test.v1;
import "deps/common.proto";
message Order {
  string id = 1;
  cairn.test.deps.Money total = 2;
  string note = 3;
  bool paid = 4;
}
`
	// orderIDChanged turns field 1 from a string into an int64: a
	// wire-incompatible change.
	orderIDChanged = `syntax = "proto3";
package cairn.test.v1;
import "deps/common.proto";
message Order {
  int64 id = 1;
  cairn.test.deps.Money total = 2;
}
`
	orderSubject  = "cairn.test.v1.Order"
	commonSubject = "deps/common.proto"
)

var moneyRef = []*registryv1.Reference{{Name: "deps/common.proto", Subject: commonSubject, Version: 1}}

// grpcRegistry is a registry on a SQLite file, served over loopback TCP.
type grpcRegistry struct {
	core   *registry.Registry
	db     *sqldb.DB
	conn   *grpc.ClientConn
	client registryv1.RegistryServiceClient
}

func startGRPC(t *testing.T) *grpcRegistry {
	t.Helper()
	db, err := sqldb.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	core, err := registry.Open(t.Context(), registry.Options{DB: db, Logger: slog.New(slog.NewTextHandler(t.Output(), nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(core.Close)
	svc, err := registry.NewGRPCService(core)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	registryv1.RegisterRegistryServiceServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &grpcRegistry{core: core, db: db, conn: conn, client: registryv1.NewRegistryServiceClient(conn)}
}

func (g *grpcRegistry) register(t *testing.T, subject, text string, refs []*registryv1.Reference) int32 {
	t.Helper()
	resp, err := g.client.Register(t.Context(), &registryv1.RegisterRequest{
		Subject: subject,
		Schema:  &registryv1.SchemaInput{Text: text, References: refs},
	})
	if err != nil {
		t.Fatalf("register %s: %v", subject, err)
	}
	return resp.GetId()
}

func input(text string) *registryv1.SchemaInput {
	return &registryv1.SchemaInput{SchemaType: registryv1.SchemaType_SCHEMA_TYPE_PROTOBUF, Text: text, References: moneyRef}
}

// TestGRPCReads registers a dependency and three versions of a schema that
// imports it, soft-deletes the third version and a scratch subject through
// the core, and reads them all back over gRPC.
func TestGRPCReads(t *testing.T) {
	t.Parallel()
	g := startGRPC(t)
	commonID := g.register(t, commonSubject, moneyProto, nil)
	v1 := g.register(t, orderSubject, orderV1, moneyRef)
	if again := g.register(t, orderSubject, orderV1, moneyRef); again != v1 {
		t.Errorf("registering version 1 again gave id %d, want %d", again, v1)
	}
	v2 := g.register(t, orderSubject, orderV2, moneyRef)
	v3 := g.register(t, orderSubject, orderV3, moneyRef)
	g.register(t, "scratch", moneyProto, nil)
	if _, err := g.core.DeleteVersion(t.Context(), orderSubject, 3, false); err != nil {
		t.Fatal(err)
	}
	if _, err := g.core.DeleteSubject(t.Context(), "scratch", false); err != nil {
		t.Fatal(err)
	}
	if len(map[int32]bool{commonID: true, v1: true, v2: true, v3: true}) != 4 {
		t.Fatalf("ids are not distinct: common %d, order %d %d %d", commonID, v1, v2, v3)
	}

	schema := func(id int32, text string) *registryv1.Schema {
		return &registryv1.Schema{Id: id, SchemaType: registryv1.SchemaType_SCHEMA_TYPE_PROTOBUF, Text: text, References: moneyRef}
	}
	order := func(version int32, id int32, text string, deleted bool) *registryv1.SubjectVersion {
		return &registryv1.SubjectVersion{Subject: orderSubject, Version: version, Schema: schema(id, text), Deleted: deleted}
	}
	c := g.client
	tests := []struct {
		name string
		call func(context.Context) (proto.Message, error)
		want proto.Message
	}{{
		name: "look up",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.LookUp(ctx, &registryv1.LookUpRequest{Subject: orderSubject, Schema: input(orderV2)})
		},
		want: &registryv1.LookUpResponse{SubjectVersion: order(2, v2, orderV2, false)},
	}, {
		name: "look up a soft-deleted version",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.LookUp(ctx, &registryv1.LookUpRequest{Subject: orderSubject, Schema: input(orderV3), IncludeDeleted: true})
		},
		want: &registryv1.LookUpResponse{SubjectVersion: order(3, v3, orderV3, true)},
	}, {
		name: "schema by id",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.GetSchema(ctx, &registryv1.GetSchemaRequest{Id: v1})
		},
		want: &registryv1.GetSchemaResponse{Schema: schema(v1, orderV1)},
	}, {
		name: "dependency by id",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.GetSchema(ctx, &registryv1.GetSchemaRequest{Id: commonID})
		},
		want: &registryv1.GetSchemaResponse{Schema: &registryv1.Schema{Id: commonID, SchemaType: registryv1.SchemaType_SCHEMA_TYPE_PROTOBUF, Text: moneyProto, References: []*registryv1.Reference{}}},
	}, {
		name: "soft-deleted version's schema by id",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.GetSchema(ctx, &registryv1.GetSchemaRequest{Id: v3})
		},
		want: &registryv1.GetSchemaResponse{Schema: schema(v3, orderV3)},
	}, {
		name: "version by number",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.GetVersion(ctx, &registryv1.GetVersionRequest{Subject: orderSubject, Version: &registryv1.GetVersionRequest_Number{Number: 1}})
		},
		want: &registryv1.GetVersionResponse{SubjectVersion: order(1, v1, orderV1, false)},
	}, {
		name: "latest version skips the soft-deleted one",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.GetVersion(ctx, &registryv1.GetVersionRequest{Subject: orderSubject, Version: &registryv1.GetVersionRequest_Latest{Latest: true}})
		},
		want: &registryv1.GetVersionResponse{SubjectVersion: order(2, v2, orderV2, false)},
	}, {
		name: "latest version including deleted",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.GetVersion(ctx, &registryv1.GetVersionRequest{Subject: orderSubject, Version: &registryv1.GetVersionRequest_Latest{Latest: true}, IncludeDeleted: true})
		},
		want: &registryv1.GetVersionResponse{SubjectVersion: order(3, v3, orderV3, true)},
	}, {
		name: "subjects",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.ListSubjects(ctx, &registryv1.ListSubjectsRequest{})
		},
		want: &registryv1.ListSubjectsResponse{Subjects: []string{orderSubject, commonSubject}},
	}, {
		name: "subjects including deleted",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.ListSubjects(ctx, &registryv1.ListSubjectsRequest{IncludeDeleted: true})
		},
		want: &registryv1.ListSubjectsResponse{Subjects: []string{orderSubject, commonSubject, "scratch"}},
	}, {
		name: "subjects by prefix",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.ListSubjects(ctx, &registryv1.ListSubjectsRequest{Prefix: "deps/"})
		},
		want: &registryv1.ListSubjectsResponse{Subjects: []string{commonSubject}},
	}, {
		name: "no subject has the prefix",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.ListSubjects(ctx, &registryv1.ListSubjectsRequest{Prefix: "nothing."})
		},
		want: &registryv1.ListSubjectsResponse{},
	}, {
		name: "versions",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: orderSubject})
		},
		want: &registryv1.ListVersionsResponse{Versions: []int32{1, 2}},
	}, {
		name: "versions including deleted",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: orderSubject, IncludeDeleted: true})
		},
		want: &registryv1.ListVersionsResponse{Versions: []int32{1, 2, 3}},
	}, {
		name: "versions of a soft-deleted subject",
		call: func(ctx context.Context) (proto.Message, error) {
			return c.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: "scratch", IncludeDeleted: true})
		},
		want: &registryv1.ListVersionsResponse{Versions: []int32{1}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.call(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, protocmp.Transform()); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

// TestGRPCSerialized checks that format=serialized gives a base64
// FileDescriptorProto of the compiled schema, which Register takes back.
func TestGRPCSerialized(t *testing.T) {
	t.Parallel()
	g := startGRPC(t)
	g.register(t, commonSubject, moneyProto, nil)
	id := g.register(t, orderSubject, orderV1, moneyRef)

	bySchema, err := g.client.GetSchema(t.Context(), &registryv1.GetSchemaRequest{Id: id, Format: registryv1.SchemaFormat_SCHEMA_FORMAT_SERIALIZED})
	if err != nil {
		t.Fatal(err)
	}
	byVersion, err := g.client.GetVersion(t.Context(), &registryv1.GetVersionRequest{
		Subject: orderSubject,
		Version: &registryv1.GetVersionRequest_Latest{Latest: true},
		Format:  registryv1.SchemaFormat_SCHEMA_FORMAT_SERIALIZED,
	})
	if err != nil {
		t.Fatal(err)
	}
	text := bySchema.GetSchema().GetText()
	if got := byVersion.GetSubjectVersion().GetSchema().GetText(); got != text {
		t.Errorf("GetVersion serialized text differs from GetSchema's:\n%s\n%s", got, text)
	}
	b, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		t.Fatalf("serialized schema is not base64: %v", err)
	}
	var fdp descriptorpb.FileDescriptorProto
	if err := proto.Unmarshal(b, &fdp); err != nil {
		t.Fatalf("serialized schema is not a FileDescriptorProto: %v", err)
	}
	if got, want := fdp.GetPackage(), "cairn.test.v1"; got != want {
		t.Errorf("package %q, want %q", got, want)
	}
	if diff := cmp.Diff([]string{"deps/common.proto"}, fdp.GetDependency()); diff != "" {
		t.Errorf("dependencies (-want +got):\n%s", diff)
	}
	if len(fdp.GetMessageType()) != 1 || fdp.GetMessageType()[0].GetName() != "Order" || len(fdp.GetMessageType()[0].GetField()) != 2 {
		t.Errorf("messages: %v, want Order with 2 fields", fdp.GetMessageType())
	}

	if again := g.register(t, orderSubject, text, moneyRef); again != id {
		t.Errorf("registering the serialized form gave id %d, want %d", again, id)
	}
}

func TestGRPCCheckCompatibility(t *testing.T) {
	t.Parallel()
	g := startGRPC(t)
	g.register(t, commonSubject, moneyProto, nil)
	g.register(t, orderSubject, orderV1, moneyRef)
	g.register(t, orderSubject, orderV2, moneyRef)

	// The oneof's interface is unexported, so each choice sets it.
	type against func(*registryv1.CheckCompatibilityRequest)
	latest := against(func(r *registryv1.CheckCompatibilityRequest) {
		r.Against = &registryv1.CheckCompatibilityRequest_Latest{Latest: true}
	})
	all := against(func(r *registryv1.CheckCompatibilityRequest) {
		r.Against = &registryv1.CheckCompatibilityRequest_AllVersions{AllVersions: true}
	})
	first := against(func(r *registryv1.CheckCompatibilityRequest) {
		r.Against = &registryv1.CheckCompatibilityRequest_Version{Version: 1}
	})
	tests := []struct {
		name       string
		subject    string
		against    against
		text       string
		compatible bool
	}{
		{"field added, against latest", orderSubject, latest, orderV3, true},
		{"field added, against all", orderSubject, all, orderV3, true},
		{"field added, against version 1", orderSubject, first, orderV3, true},
		{"field type changed, against latest", orderSubject, latest, orderIDChanged, false},
		{"field type changed, against all", orderSubject, all, orderIDChanged, false},
		{"field type changed, against version 1", orderSubject, first, orderIDChanged, false},
		{"a subject without versions takes anything", "cairn.test.v1.New", all, orderIDChanged, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := &registryv1.CheckCompatibilityRequest{Subject: tt.subject, Schema: input(tt.text)}
			tt.against(req)
			resp, err := g.client.CheckCompatibility(t.Context(), req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetCompatible() != tt.compatible {
				t.Errorf("compatible = %v, want %v (messages %q)", resp.GetCompatible(), tt.compatible, resp.GetMessages())
			}
			if tt.compatible != (len(resp.GetMessages()) == 0) {
				t.Errorf("compatible %v with messages %q", resp.GetCompatible(), resp.GetMessages())
			}
		})
	}
}

// wantStatus is what a failed call must return: its code, and either the
// Confluent error code in an ErrorInfo or the fields protovalidate names.
type wantStatus struct {
	code       codes.Code
	errorCode  string   // ErrorInfo metadata "error_code"; empty when none is sent
	violations []string // field paths of buf.validate.Violations
}

// errorReason is the form google.rpc.ErrorInfo gives reasons.
var errorReason = regexp.MustCompile(`^[A-Z][A-Z0-9_]+[A-Z0-9]$`)

func checkStatus(t *testing.T, err error, want wantStatus) {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || err == nil {
		t.Fatalf("error %v is not a status", err)
	}
	if st.Code() != want.code {
		t.Errorf("code %v (%q), want %v", st.Code(), st.Message(), want.code)
	}
	var info *errdetails.ErrorInfo
	var violations []string
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			info = d
		case *validate.Violations:
			for _, v := range d.GetViolations() {
				violations = append(violations, protovalidate.FieldPathString(v.GetField()))
			}
		}
	}
	switch {
	case want.errorCode == "" && info != nil:
		t.Errorf("unexpected ErrorInfo %v", info)
	case want.errorCode != "" && info == nil:
		t.Errorf("no ErrorInfo in %v; want error_code %s", st.Details(), want.errorCode)
	case info != nil:
		if info.GetDomain() != "registry.cairn" || info.GetMetadata()["error_code"] != want.errorCode {
			t.Errorf("ErrorInfo %v, want domain registry.cairn and error_code %s", info, want.errorCode)
		}
		if !errorReason.MatchString(info.GetReason()) {
			t.Errorf("ErrorInfo reason %q is not UPPER_SNAKE_CASE", info.GetReason())
		}
	}
	if diff := cmp.Diff(want.violations, violations); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

func TestGRPCErrors(t *testing.T) {
	t.Parallel()
	g := startGRPC(t)
	g.register(t, commonSubject, moneyProto, nil)
	g.register(t, orderSubject, orderV1, moneyRef)
	if _, err := g.core.SetMode(t.Context(), "frozen", registry.ModeReadOnly, false); err != nil {
		t.Fatal(err)
	}

	c := g.client
	tests := []struct {
		name string
		call func(context.Context) error
		want wantStatus
	}{{
		name: "unknown subject",
		call: func(ctx context.Context) error {
			_, err := c.GetVersion(ctx, &registryv1.GetVersionRequest{Subject: "cairn.test.v1.Missing", Version: &registryv1.GetVersionRequest_Latest{Latest: true}})
			return err
		},
		want: wantStatus{code: codes.NotFound, errorCode: "40401"},
	}, {
		name: "versions of an unknown subject",
		call: func(ctx context.Context) error {
			_, err := c.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: "cairn.test.v1.Missing"})
			return err
		},
		want: wantStatus{code: codes.NotFound, errorCode: "40401"},
	}, {
		name: "unknown version",
		call: func(ctx context.Context) error {
			_, err := c.GetVersion(ctx, &registryv1.GetVersionRequest{Subject: orderSubject, Version: &registryv1.GetVersionRequest_Number{Number: 7}})
			return err
		},
		want: wantStatus{code: codes.NotFound, errorCode: "40402"},
	}, {
		name: "unknown schema id",
		call: func(ctx context.Context) error {
			_, err := c.GetSchema(ctx, &registryv1.GetSchemaRequest{Id: 999})
			return err
		},
		want: wantStatus{code: codes.NotFound, errorCode: "40403"},
	}, {
		name: "schema not under the subject",
		call: func(ctx context.Context) error {
			_, err := c.LookUp(ctx, &registryv1.LookUpRequest{Subject: orderSubject, Schema: input(orderV2)})
			return err
		},
		want: wantStatus{code: codes.NotFound, errorCode: "40403"},
	}, {
		name: "schema does not compile",
		call: func(ctx context.Context) error {
			_, err := c.Register(ctx, &registryv1.RegisterRequest{Subject: "broken", Schema: &registryv1.SchemaInput{Text: "syntax = \"proto3\";\nmessage {"}})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, errorCode: "42201"},
	}, {
		name: "import without a reference",
		call: func(ctx context.Context) error {
			_, err := c.Register(ctx, &registryv1.RegisterRequest{Subject: orderSubject, Schema: &registryv1.SchemaInput{Text: orderV2}})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, errorCode: "42201"},
	}, {
		name: "reference to an unknown subject",
		call: func(ctx context.Context) error {
			_, err := c.Register(ctx, &registryv1.RegisterRequest{Subject: orderSubject, Schema: &registryv1.SchemaInput{
				Text:       orderV2,
				References: []*registryv1.Reference{{Name: "deps/common.proto", Subject: "deps/missing.proto", Version: 1}},
			}})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, errorCode: "42201"},
	}, {
		name: "incompatible schema",
		call: func(ctx context.Context) error {
			_, err := c.Register(ctx, &registryv1.RegisterRequest{Subject: orderSubject, Schema: input(orderIDChanged)})
			return err
		},
		want: wantStatus{code: codes.FailedPrecondition, errorCode: "409"},
	}, {
		name: "read-only subject",
		call: func(ctx context.Context) error {
			_, err := c.Register(ctx, &registryv1.RegisterRequest{Subject: "frozen", Schema: input(orderV1)})
			return err
		},
		want: wantStatus{code: codes.FailedPrecondition, errorCode: "42205"},
	}, {
		name: "subject with surrounding spaces",
		call: func(ctx context.Context) error {
			_, err := c.Register(ctx, &registryv1.RegisterRequest{Subject: " spaced ", Schema: input(orderV1)})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, errorCode: "42208"},
	}, {
		name: "empty subject",
		call: func(ctx context.Context) error {
			_, err := c.Register(ctx, &registryv1.RegisterRequest{Schema: input(orderV1)})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, violations: []string{"subject"}},
	}, {
		name: "no schema and an empty reference",
		call: func(ctx context.Context) error {
			_, err := c.LookUp(ctx, &registryv1.LookUpRequest{Subject: orderSubject, Schema: &registryv1.SchemaInput{
				References: []*registryv1.Reference{{}},
			}})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, violations: []string{"schema.text", "schema.references[0].name", "schema.references[0].subject", "schema.references[0].version"}},
	}, {
		name: "subject too long",
		call: func(ctx context.Context) error {
			_, err := c.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: string(make([]byte, 256))})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, violations: []string{"subject"}},
	}, {
		name: "no version chosen",
		call: func(ctx context.Context) error {
			_, err := c.GetVersion(ctx, &registryv1.GetVersionRequest{Subject: orderSubject})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, violations: []string{"version"}},
	}, {
		name: "latest set to false",
		call: func(ctx context.Context) error {
			_, err := c.GetVersion(ctx, &registryv1.GetVersionRequest{Subject: orderSubject, Version: &registryv1.GetVersionRequest_Latest{}})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, violations: []string{"latest"}},
	}, {
		name: "version zero",
		call: func(ctx context.Context) error {
			_, err := c.CheckCompatibility(ctx, &registryv1.CheckCompatibilityRequest{
				Subject: orderSubject,
				Against: &registryv1.CheckCompatibilityRequest_Version{},
				Schema:  input(orderV2),
			})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, violations: []string{"version"}},
	}, {
		name: "schema id zero",
		call: func(ctx context.Context) error {
			_, err := c.GetSchema(ctx, &registryv1.GetSchemaRequest{})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, violations: []string{"id"}},
	}, {
		name: "undefined schema type",
		call: func(ctx context.Context) error {
			_, err := c.Register(ctx, &registryv1.RegisterRequest{Subject: orderSubject, Schema: &registryv1.SchemaInput{SchemaType: 7, Text: orderV1, References: moneyRef}})
			return err
		},
		want: wantStatus{code: codes.InvalidArgument, violations: []string{"schema.schema_type"}},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			checkStatus(t, tt.call(t.Context()), tt.want)
		})
	}
}

// TestGRPCStoreFailure checks that a failing database is Internal, with
// error code 50001 and none of the database's own words.
func TestGRPCStoreFailure(t *testing.T) {
	t.Parallel()
	g := startGRPC(t)
	if err := g.db.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := g.client.Register(t.Context(), &registryv1.RegisterRequest{Subject: commonSubject, Schema: &registryv1.SchemaInput{Text: moneyProto}})
	checkStatus(t, err, wantStatus{code: codes.Internal, errorCode: "50001"})
	if msg := status.Convert(err).Message(); msg != "internal error" {
		t.Errorf("message %q, want %q", msg, "internal error")
	}
}
