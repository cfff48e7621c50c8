package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/structpb"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// GRPCService serves the registry's gRPC API, cairn.registry.v1.RegistryService,
// over a Registry. Register it on a server with
// registryv1.RegisterRegistryServiceServer. Schemas may be up to 4 MiB of
// text, gRPC's default message limit, so a server that must accept the
// largest ones needs grpc.MaxRecvMsgSize above it.
//
// GRPCService is safe for concurrent use.
type GRPCService struct {
	registryv1.UnimplementedRegistryServiceServer

	r         *Registry
	validator protovalidate.Validator
}

// NewGRPCService returns the gRPC API over r. It compiles the requests'
// validation rules once, here.
func NewGRPCService(r *Registry) (*GRPCService, error) {
	var requests []protoreflect.MessageDescriptor
	methods := registryv1.File_cairn_registry_v1_registry_proto.Services().ByName("RegistryService").Methods()
	for i := range methods.Len() {
		requests = append(requests, methods.Get(i).Input())
	}
	validator, err := protovalidate.New(protovalidate.WithMessageDescriptors(requests...))
	if err != nil {
		return nil, fmt.Errorf("registry: build request validator: %w", err)
	}
	return &GRPCService{r: r, validator: validator}, nil
}

// Register adds a schema to a subject.
func (s *GRPCService) Register(ctx context.Context, req *registryv1.RegisterRequest) (*registryv1.RegisterResponse, error) {
	return handle(ctx, s, req, func() (*registryv1.RegisterResponse, error) {
		in, err := schemaInput(req.GetSchema())
		if err != nil {
			return nil, err
		}
		in.Normalize = req.GetNormalize()
		id, err := s.r.Register(ctx, req.GetSubject(), in)
		if err != nil {
			return nil, err
		}
		return &registryv1.RegisterResponse{Id: id}, nil
	})
}

// LookUp finds the version of a subject that holds a schema.
func (s *GRPCService) LookUp(ctx context.Context, req *registryv1.LookUpRequest) (*registryv1.LookUpResponse, error) {
	return handle(ctx, s, req, func() (*registryv1.LookUpResponse, error) {
		in, err := schemaInput(req.GetSchema())
		if err != nil {
			return nil, err
		}
		in.Normalize = req.GetNormalize()
		sv, err := s.r.LookUp(ctx, req.GetSubject(), in, req.GetIncludeDeleted())
		if err != nil {
			return nil, err
		}
		return &registryv1.LookUpResponse{SubjectVersion: subjectVersionProto(sv, registryv1.SchemaFormat_SCHEMA_FORMAT_UNSPECIFIED)}, nil
	})
}

// GetSchema returns a schema by its global id.
func (s *GRPCService) GetSchema(ctx context.Context, req *registryv1.GetSchemaRequest) (*registryv1.GetSchemaResponse, error) {
	return handle(ctx, s, req, func() (*registryv1.GetSchemaResponse, error) {
		schema, err := s.r.SchemaByID(ctx, req.GetId())
		if err != nil {
			return nil, err
		}
		return &registryv1.GetSchemaResponse{Schema: schemaProto(schema, req.GetFormat())}, nil
	})
}

// GetVersion returns one version of a subject.
func (s *GRPCService) GetVersion(ctx context.Context, req *registryv1.GetVersionRequest) (*registryv1.GetVersionResponse, error) {
	return handle(ctx, s, req, func() (*registryv1.GetVersionResponse, error) {
		version := int(req.GetNumber())
		if req.GetLatest() {
			version = -1
		}
		sv, err := s.r.Version(ctx, req.GetSubject(), version, req.GetIncludeDeleted())
		if err != nil {
			return nil, err
		}
		return &registryv1.GetVersionResponse{SubjectVersion: subjectVersionProto(sv, req.GetFormat())}, nil
	})
}

// ListSubjects lists subject names.
func (s *GRPCService) ListSubjects(ctx context.Context, req *registryv1.ListSubjectsRequest) (*registryv1.ListSubjectsResponse, error) {
	return handle(ctx, s, req, func() (*registryv1.ListSubjectsResponse, error) {
		// A name that is not UTF-8 (stored before names were checked)
		// cannot travel in a protobuf string: it is left out, not allowed
		// to fail the whole listing.
		subjects := slices.DeleteFunc(s.r.Subjects(ctx, req.GetPrefix(), req.GetIncludeDeleted()), func(name string) bool {
			return !utf8.ValidString(name)
		})
		return &registryv1.ListSubjectsResponse{Subjects: subjects}, nil
	})
}

// ListVersions lists a subject's version numbers.
func (s *GRPCService) ListVersions(ctx context.Context, req *registryv1.ListVersionsRequest) (*registryv1.ListVersionsResponse, error) {
	return handle(ctx, s, req, func() (*registryv1.ListVersionsResponse, error) {
		versions, err := s.r.Versions(ctx, req.GetSubject(), req.GetIncludeDeleted())
		if err != nil {
			return nil, err
		}
		out := make([]int32, len(versions))
		for i, v := range versions {
			out[i] = int32(v)
		}
		return &registryv1.ListVersionsResponse{Versions: out}, nil
	})
}

// CheckCompatibility reports whether a schema is compatible with a
// subject's versions.
func (s *GRPCService) CheckCompatibility(ctx context.Context, req *registryv1.CheckCompatibilityRequest) (*registryv1.CheckCompatibilityResponse, error) {
	return handle(ctx, s, req, func() (*registryv1.CheckCompatibilityResponse, error) {
		version := int(req.GetVersion()) // the core's -1 is the latest, 0 what Register compares with
		switch {
		case req.GetLatest():
			version = -1
		case req.GetAllVersions():
			version = 0
		}
		in, err := schemaInput(req.GetSchema())
		if err != nil {
			return nil, err
		}
		problems, err := s.r.CheckCompatibility(ctx, req.GetSubject(), version, in)
		if err != nil {
			return nil, err
		}
		return &registryv1.CheckCompatibilityResponse{Compatible: len(problems) == 0, Messages: problems}, nil
	})
}

// CheckSchemas says what registering a set of schemas in order would do.
func (s *GRPCService) CheckSchemas(ctx context.Context, req *registryv1.CheckSchemasRequest) (*registryv1.CheckSchemasResponse, error) {
	return handle(ctx, s, req, func() (*registryv1.CheckSchemasResponse, error) {
		cands := make([]Candidate, len(req.GetSchemas()))
		for i, c := range req.GetSchemas() {
			in, err := schemaInput(c.GetSchema())
			if err != nil {
				return nil, err
			}
			in.Normalize = c.GetNormalize()
			cands[i] = Candidate{Subject: c.GetSubject(), Input: in}
		}
		results, err := s.r.CheckSet(ctx, cands)
		if err != nil {
			return nil, err
		}
		resp := &registryv1.CheckSchemasResponse{Verdicts: make([]*registryv1.SchemaVerdict, len(results))}
		for i, res := range results {
			resp.Verdicts[i] = &registryv1.SchemaVerdict{
				Subject:  res.Subject,
				Verdict:  registryv1.Verdict(res.Verdict),
				Version:  int32(res.Version),
				Messages: res.Reasons,
			}
		}
		return resp, nil
	})
}

// handle validates req, then runs call and turns its error into a status.
func handle[Resp any](ctx context.Context, s *GRPCService, req proto.Message, call func() (*Resp, error)) (*Resp, error) {
	if err := s.validator.Validate(req); err != nil {
		return nil, s.status(ctx, err)
	}
	resp, err := call()
	if err != nil {
		return nil, s.status(ctx, err)
	}
	return resp, nil
}

// status maps an error to the status the client sees. It is the one place
// where the gRPC API chooses codes:
//
//	request breaks its protovalidate rules  InvalidArgument, with violations
//	404xx  not found                        NotFound
//	409    incompatible schema              FailedPrecondition
//	42205  not permitted (mode)             FailedPrecondition
//	42206  reference exists                 FailedPrecondition
//	422xx  invalid input                    InvalidArgument
//	40101, 40301                            Unauthenticated, PermissionDenied
//	50001 and anything else                 Internal, "internal error"
//
// An incompatible schema is FailedPrecondition rather than Aborted: the
// subject's versions, not a concurrent write, refuse it, and retrying the
// same call cannot succeed until the schema or the subject's level changes.
//
// Registry errors carry a google.rpc.ErrorInfo whose metadata "error_code"
// is the Confluent code, so clients can tell 40401 from 40402. Internal
// failures are logged with their cause; their text never reaches the
// client.
func (s *GRPCService) status(ctx context.Context, err error) error {
	var verr *protovalidate.ValidationError
	switch {
	case errors.As(err, &verr):
		return invalidRequest(verr)
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "call canceled")
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, "deadline exceeded")
	}
	e := AsError(err)
	var code codes.Code
	switch class := e.HTTPStatus(); {
	case e.Code == regclient.CodeUnauthorized:
		code = codes.Unauthenticated
	case e.Code == regclient.CodeForbidden:
		code = codes.PermissionDenied
	case class == 404:
		code = codes.NotFound
	case e.Code == regclient.CodeIncompatible, e.Code == regclient.CodeOperationNotPermitted, e.Code == regclient.CodeReferenceExists:
		code = codes.FailedPrecondition
	case class == 422:
		code = codes.InvalidArgument
	default:
		code = codes.Internal
	}
	msg := e.Message
	if code == codes.Internal {
		method, _ := grpc.Method(ctx)
		s.r.log.Error("registry gRPC call failed", "method", method, "error_code", e.Code, "error", err)
		msg = "internal error"
	}
	st := status.New(code, msg)
	detailed, derr := st.WithDetails(&errdetails.ErrorInfo{
		Reason:   errorReason(e.Code),
		Domain:   regclient.ErrorDomain,
		Metadata: map[string]string{"error_code": strconv.Itoa(e.Code)},
	})
	if derr != nil {
		return st.Err()
	}
	return detailed.Err()
}

// errorReasons name the Confluent error codes for google.rpc.ErrorInfo,
// whose reasons are UPPER_SNAKE_CASE identifiers.
var errorReasons = map[int]string{
	regclient.CodeUnauthorized:          "UNAUTHORIZED",
	regclient.CodeForbidden:             "FORBIDDEN",
	regclient.CodeSubjectNotFound:       "SUBJECT_NOT_FOUND",
	regclient.CodeVersionNotFound:       "VERSION_NOT_FOUND",
	regclient.CodeSchemaNotFound:        "SCHEMA_NOT_FOUND",
	regclient.CodeSubjectSoftDeleted:    "SUBJECT_SOFT_DELETED",
	regclient.CodeSubjectNotSoftDeleted: "SUBJECT_NOT_SOFT_DELETED",
	regclient.CodeVersionSoftDeleted:    "VERSION_SOFT_DELETED",
	regclient.CodeVersionNotSoftDeleted: "VERSION_NOT_SOFT_DELETED",
	regclient.CodeSubjectConfigNotFound: "SUBJECT_CONFIG_NOT_FOUND",
	regclient.CodeSubjectModeNotFound:   "SUBJECT_MODE_NOT_FOUND",
	regclient.CodeIncompatible:          "INCOMPATIBLE_SCHEMA",
	regclient.CodeInvalidSchema:         "INVALID_SCHEMA",
	regclient.CodeInvalidVersion:        "INVALID_VERSION",
	regclient.CodeInvalidCompatibility:  "INVALID_COMPATIBILITY_LEVEL",
	regclient.CodeInvalidMode:           "INVALID_MODE",
	regclient.CodeOperationNotPermitted: "OPERATION_NOT_PERMITTED",
	regclient.CodeReferenceExists:       "REFERENCE_EXISTS",
	regclient.CodeInvalidSubject:        "INVALID_SUBJECT",
	regclient.CodeRequestTooLarge:       "REQUEST_TOO_LARGE",
	regclient.CodeStore:                 "STORE_ERROR",
}

func errorReason(code int) string {
	if r, ok := errorReasons[code]; ok {
		return r
	}
	return "ERROR_" + strconv.Itoa(code)
}

// invalidRequest is the status of a request that breaks its validation
// rules: InvalidArgument with the violations, both as protovalidate
// reports them and as a google.rpc.BadRequest.
func invalidRequest(verr *protovalidate.ValidationError) error {
	parts := make([]string, 0, len(verr.Violations))
	br := &errdetails.BadRequest{}
	for _, v := range verr.Violations {
		path := protovalidate.FieldPathString(v.Proto.GetField())
		parts = append(parts, path+": "+v.Proto.GetMessage())
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       path,
			Description: v.Proto.GetMessage(),
		})
	}
	st := status.New(codes.InvalidArgument, "invalid request: "+strings.Join(parts, "; "))
	detailed, err := st.WithDetails(protoadapt.MessageV1Of(verr.ToProto()), br)
	if err != nil {
		return st.Err()
	}
	return detailed.Err()
}

// schemaInput reads a request's schema as the core takes it: metadata and
// rule set in the canonical JSON the REST API stores, so that both APIs
// see the same schema.
func schemaInput(in *registryv1.SchemaInput) (regclient.SchemaInput, error) {
	refs := make([]regclient.Reference, len(in.GetReferences()))
	for i, r := range in.GetReferences() {
		refs[i] = regclient.Reference{Name: r.GetName(), Subject: r.GetSubject(), Version: int(r.GetVersion())}
	}
	out := regclient.SchemaInput{Type: schemaType(in.GetSchemaType()), Text: in.GetText(), References: refs}
	var err error
	if out.Metadata, err = structJSON("metadata", in.GetMetadata()); err != nil {
		return out, err
	}
	out.RuleSet, err = structJSON("ruleSet", in.GetRuleSet())
	return out, err
}

// structJSON is a Struct as canonical JSON; nil for none or an empty one.
func structJSON(field string, st *structpb.Struct) (json.RawMessage, error) {
	if len(st.GetFields()) == 0 {
		return nil, nil
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema: %s: %v", field, err)
	}
	return canonicalObject(field, raw)
}

// jsonStruct is stored JSON as a Struct; nil for none. Stored JSON was
// checked to be an object when registered.
func jsonStruct(raw json.RawMessage) *structpb.Struct {
	if len(raw) == 0 {
		return nil
	}
	st := &structpb.Struct{}
	if err := protojson.Unmarshal(raw, st); err != nil {
		return nil
	}
	return st
}

// schemaType names a SchemaType as the core does: SCHEMA_TYPE_PROTOBUF is
// "PROTOBUF", and unspecified is "" (the default type).
func schemaType(t registryv1.SchemaType) string {
	if t == registryv1.SchemaType_SCHEMA_TYPE_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(t.String(), "SCHEMA_TYPE_")
}

func schemaProto(s *regclient.Schema, format registryv1.SchemaFormat) *registryv1.Schema {
	text := s.Text
	if format == registryv1.SchemaFormat_SCHEMA_FORMAT_SERIALIZED {
		text = s.Serialized()
	}
	refs := make([]*registryv1.Reference, len(s.References))
	for i, r := range s.References {
		refs[i] = &registryv1.Reference{Name: r.Name, Subject: r.Subject, Version: int32(r.Version)}
	}
	return &registryv1.Schema{
		Id:         s.ID,
		SchemaType: registryv1.SchemaType(registryv1.SchemaType_value["SCHEMA_TYPE_"+s.Type]),
		Text:       text,
		References: refs,
		Metadata:   jsonStruct(s.Metadata),
		RuleSet:    jsonStruct(s.RuleSet),
	}
}

func subjectVersionProto(sv *regclient.SubjectVersion, format registryv1.SchemaFormat) *registryv1.SubjectVersion {
	return &registryv1.SubjectVersion{
		Subject: sv.Subject,
		Version: int32(sv.Version),
		Schema:  schemaProto(sv.Schema, format),
		Deleted: sv.Deleted,
	}
}
