package schemaplan

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Remote reaches a Cairn registry through its gRPC API.
//
// Remote is safe for concurrent use.
type Remote struct {
	api registryv1.RegistryServiceClient
}

// NewRemote reads and writes the registry behind conn.
func NewRemote(conn grpc.ClientConnInterface) *Remote {
	return &Remote{api: registryv1.NewRegistryServiceClient(conn)}
}

// ConnectionError says the registry could not be reached, or refused the
// caller's credentials: nothing about the schemas was learned.
type ConnectionError struct {
	Err error
}

func (e *ConnectionError) Error() string { return e.Err.Error() }
func (e *ConnectionError) Unwrap() error { return e.Err }

// callError sorts a failed call: a *ConnectionError for an unreachable
// registry or refused credentials, a *regclient.Error for the registry's
// own answers, anything else wrapped.
func callError(op string, err error) error {
	st, ok := status.FromError(err)
	if ok {
		switch st.Code() {
		case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
			return &ConnectionError{fmt.Errorf("%s: the registry cannot be reached: %s", op, st.Message())}
		case codes.Unauthenticated:
			return &ConnectionError{fmt.Errorf("%s: the registry refused the credentials (401 unauthenticated): %s; set --registry-token", op, st.Message())}
		case codes.PermissionDenied:
			return &ConnectionError{fmt.Errorf("%s: the registry refused the credentials (403 forbidden): %s; the token needs the schema-owner role", op, st.Message())}
		}
	}
	var re *regclient.Error
	if errors.As(err, &re) {
		return re
	}
	if ok {
		for _, d := range st.Details() {
			if info, isInfo := d.(*errdetails.ErrorInfo); isInfo && info.GetDomain() == regclient.ErrorDomain {
				if code, cerr := strconv.Atoi(info.GetMetadata()["error_code"]); cerr == nil {
					return &regclient.Error{Code: code, Message: st.Message()}
				}
			}
		}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// lookUp returns the live version of subject holding in, or 0.
func (r *Remote) lookUp(ctx context.Context, subject string, in regclient.SchemaInput) (int, error) {
	p, err := regclient.InputProto(in)
	if err != nil {
		return 0, err
	}
	resp, err := r.api.LookUp(ctx, &registryv1.LookUpRequest{Subject: subject, Schema: p})
	if err != nil {
		err = callError("look up "+subject, err)
		if regclient.IsNotFound(err) {
			return 0, nil
		}
		return 0, err
	}
	return int(resp.GetSubjectVersion().GetVersion()), nil
}

// register registers in under subject and returns its id.
func (r *Remote) register(ctx context.Context, subject string, in regclient.SchemaInput) (int32, error) {
	p, err := regclient.InputProto(in)
	if err != nil {
		return 0, err
	}
	resp, err := r.api.Register(ctx, &registryv1.RegisterRequest{Subject: subject, Schema: p})
	if err != nil {
		return 0, callError("register "+subject, err)
	}
	return resp.GetId(), nil
}

// candidate is one schema of a set to check.
type candidate struct {
	subject string
	in      regclient.SchemaInput
}

// checkSet asks the registry what registering cands in order would do.
func (r *Remote) checkSet(ctx context.Context, cands []candidate) ([]*registryv1.SchemaVerdict, error) {
	req := &registryv1.CheckSchemasRequest{}
	for _, c := range cands {
		p, err := regclient.InputProto(c.in)
		if err != nil {
			return nil, err
		}
		req.Schemas = append(req.Schemas, &registryv1.SchemaCandidate{Subject: c.subject, Schema: p})
	}
	resp, err := r.api.CheckSchemas(ctx, req)
	if err != nil {
		return nil, callError("check the schemas", err)
	}
	if len(resp.GetVerdicts()) != len(cands) {
		return nil, fmt.Errorf("check the schemas: the registry answered %d verdicts for %d schemas", len(resp.GetVerdicts()), len(cands))
	}
	return resp.GetVerdicts(), nil
}
