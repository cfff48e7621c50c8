package regclient

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
)

// Remote is a Source that reads a registry over its gRPC API, for gateways
// and workers that run apart from the registry. It compiles what it fetches,
// references included, and keeps every schema it compiled by id, and
// referenced schemas by subject and version: neither ever changes, so a
// schema is compiled once however often its subject's latest version is
// asked for.
//
// Remote is safe for concurrent use.
type Remote struct {
	api registryv1.RegistryServiceClient

	mu   sync.Mutex
	deps map[Reference]*Schema
	byID map[int32]*Schema
}

// NewRemote reads the registry behind conn.
func NewRemote(conn grpc.ClientConnInterface) *Remote {
	return &Remote{
		api:  registryv1.NewRegistryServiceClient(conn),
		deps: make(map[Reference]*Schema),
		byID: make(map[int32]*Schema),
	}
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
	p, err := InputProto(in)
	if err != nil {
		return 0, err
	}
	resp, err := r.api.Register(ctx, &registryv1.RegisterRequest{Subject: subject, Schema: p, Normalize: in.Normalize})
	if err != nil {
		return 0, remoteError(err)
	}
	return resp.GetId(), nil
}

// LookUp implements Registrar: it finds the version of subject holding a
// schema.
func (r *Remote) LookUp(ctx context.Context, subject string, in SchemaInput, deleted bool) (*SubjectVersion, error) {
	p, err := InputProto(in)
	if err != nil {
		return nil, err
	}
	resp, err := r.api.LookUp(ctx, &registryv1.LookUpRequest{Subject: subject, Schema: p, IncludeDeleted: deleted, Normalize: in.Normalize})
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

// InputProto is a schema input as the gRPC API takes it: metadata and rule
// set as Structs. Normalize travels on the request, not here.
func InputProto(in SchemaInput) (*registryv1.SchemaInput, error) {
	p := &registryv1.SchemaInput{Text: in.Text}
	if in.Type == "" || in.Type == TypeProtobuf {
		p.SchemaType = registryv1.SchemaType_SCHEMA_TYPE_PROTOBUF
	}
	for _, ref := range in.References {
		p.References = append(p.References, &registryv1.Reference{Name: ref.Name, Subject: ref.Subject, Version: int32(ref.Version)})
	}
	var err error
	if p.Metadata, err = toStruct("metadata", in.Metadata); err != nil {
		return nil, err
	}
	if p.RuleSet, err = toStruct("ruleSet", in.RuleSet); err != nil {
		return nil, err
	}
	return p, nil
}

// toStruct reads a JSON object into a Struct; nil for none.
func toStruct(field string, raw json.RawMessage) (*structpb.Struct, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	st := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, st); err != nil {
		return nil, fmt.Errorf("%s is not a JSON object: %w", field, err)
	}
	return st, nil
}

// fromStruct writes a Struct as compact JSON with sorted keys; nil for none.
func fromStruct(st *structpb.Struct) (json.RawMessage, error) {
	if len(st.GetFields()) == 0 {
		return nil, nil
	}
	// encoding/json sorts map keys: equal objects are equal bytes.
	return json.Marshal(st.AsMap())
}

// build compiles a fetched schema, fetching its references first, unless
// a schema with its id was compiled before.
func (r *Remote) build(ctx context.Context, p *registryv1.Schema) (*Schema, error) {
	if p.GetId() > 0 {
		r.mu.Lock()
		have, ok := r.byID[p.GetId()]
		r.mu.Unlock()
		if ok {
			return have, nil
		}
	}
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
	if s.Metadata, err = fromStruct(p.GetMetadata()); err != nil {
		return nil, fmt.Errorf("schema %d metadata: %w", p.GetId(), err)
	}
	if s.RuleSet, err = fromStruct(p.GetRuleSet()); err != nil {
		return nil, fmt.Errorf("schema %d rule set: %w", p.GetId(), err)
	}
	if s.ID > 0 {
		r.mu.Lock()
		if have, ok := r.byID[s.ID]; ok {
			s = have // compiled meanwhile by another caller: share one
		} else {
			r.byID[s.ID] = s
		}
		r.mu.Unlock()
	}
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
