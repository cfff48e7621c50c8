package regclient

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
)

// Remote is a Source that reads a registry over its gRPC API, for gateways
// and workers that run apart from the registry. It compiles what it fetches,
// references included, and keeps referenced schemas, which never change.
//
// Remote is safe for concurrent use.
type Remote struct {
	api registryv1.RegistryServiceClient

	mu   sync.Mutex
	deps map[Reference]*Schema
}

// NewRemote reads the registry behind conn.
func NewRemote(conn grpc.ClientConnInterface) *Remote {
	return &Remote{api: registryv1.NewRegistryServiceClient(conn), deps: make(map[Reference]*Schema)}
}

// Version implements Source.
func (r *Remote) Version(ctx context.Context, subject string, version int, deleted bool) (*SubjectVersion, error) {
	req := &registryv1.GetVersionRequest{Subject: subject, IncludeDeleted: deleted}
	if version == -1 {
		req.Version = &registryv1.GetVersionRequest_Latest{Latest: true}
	} else {
		req.Version = &registryv1.GetVersionRequest_Number{Number: int32(version)}
	}
	resp, err := r.api.GetVersion(ctx, req)
	if err != nil {
		return nil, remoteError(err)
	}
	sv := resp.GetSubjectVersion()
	s, err := r.build(ctx, sv.GetSchema())
	if err != nil {
		return nil, err
	}
	return &SubjectVersion{Subject: sv.GetSubject(), Version: int(sv.GetVersion()), Schema: s, Deleted: sv.GetDeleted()}, nil
}

// SchemaByID implements Source.
func (r *Remote) SchemaByID(ctx context.Context, id int32) (*Schema, error) {
	resp, err := r.api.GetSchema(ctx, &registryv1.GetSchemaRequest{Id: id})
	if err != nil {
		return nil, remoteError(err)
	}
	return r.build(ctx, resp.GetSchema())
}

// Register implements Registrar: it registers a schema through the API.
func (r *Remote) Register(ctx context.Context, subject string, in SchemaInput) (int32, error) {
	resp, err := r.api.Register(ctx, &registryv1.RegisterRequest{Subject: subject, Schema: inputProto(in)})
	if err != nil {
		return 0, remoteError(err)
	}
	return resp.GetId(), nil
}

// LookUp implements Registrar: it finds the version of subject holding a
// schema.
func (r *Remote) LookUp(ctx context.Context, subject string, in SchemaInput, deleted bool) (*SubjectVersion, error) {
	resp, err := r.api.LookUp(ctx, &registryv1.LookUpRequest{Subject: subject, Schema: inputProto(in), IncludeDeleted: deleted})
	if err != nil {
		return nil, remoteError(err)
	}
	sv := resp.GetSubjectVersion()
	s, err := r.build(ctx, sv.GetSchema())
	if err != nil {
		return nil, err
	}
	return &SubjectVersion{Subject: sv.GetSubject(), Version: int(sv.GetVersion()), Schema: s, Deleted: sv.GetDeleted()}, nil
}

func inputProto(in SchemaInput) *registryv1.SchemaInput {
	p := &registryv1.SchemaInput{Text: in.Text}
	if in.Type == "" || in.Type == TypeProtobuf {
		p.SchemaType = registryv1.SchemaType_SCHEMA_TYPE_PROTOBUF
	}
	for _, ref := range in.References {
		p.References = append(p.References, &registryv1.Reference{Name: ref.Name, Subject: ref.Subject, Version: int32(ref.Version)})
	}
	return p
}

// build compiles a fetched schema, fetching its references first.
func (r *Remote) build(ctx context.Context, p *registryv1.Schema) (*Schema, error) {
	refs := make([]Reference, 0, len(p.GetReferences()))
	deps := make([]Dependency, 0, len(p.GetReferences()))
	for _, ref := range p.GetReferences() {
		key := Reference{Subject: ref.GetSubject(), Version: int(ref.GetVersion())}
		r.mu.Lock()
		dep, ok := r.deps[key]
		r.mu.Unlock()
		if !ok {
			sv, err := r.Version(ctx, key.Subject, key.Version, true)
			if err != nil {
				return nil, fmt.Errorf("reference %s: %w", ref.GetName(), err)
			}
			dep = sv.Schema
			r.mu.Lock()
			r.deps[key] = dep
			r.mu.Unlock()
		}
		refs = append(refs, Reference{Name: ref.GetName(), Subject: key.Subject, Version: key.Version})
		deps = append(deps, Dependency{Name: ref.GetName(), Schema: dep})
	}
	s, err := Compile(p.GetText(), deps)
	if err != nil {
		return nil, fmt.Errorf("schema %d: %w", p.GetId(), err)
	}
	s.ID, s.References = p.GetId(), refs
	return s, nil
}

// remoteError turns a gRPC status from the registry back into its *Error,
// from the Confluent code the status carries.
func remoteError(err error) error {
	st := status.Convert(err)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == ErrorDomain {
			if code, cerr := strconv.Atoi(info.GetMetadata()["error_code"]); cerr == nil {
				return &Error{Code: code, Message: st.Message()}
			}
		}
	}
	return fmt.Errorf("registry: %w", err)
}
