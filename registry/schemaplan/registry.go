package schemaplan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Remote reaches a Cairn registry: its gRPC API for schemas, and its REST
// API (on the same address) for the one thing the gRPC API does not say, a
// subject's compatibility level.
//
// Remote is safe for concurrent use.
type Remote struct {
	api     registryv1.RegistryServiceClient
	reader  *regclient.Remote
	http    *http.Client
	baseURL string
	token   string
}

// NewRemote reads and writes the registry behind conn; baseURL
// ("http://host:port") and token reach its REST API.
func NewRemote(conn grpc.ClientConnInterface, baseURL, token string) *Remote {
	return &Remote{
		api:     registryv1.NewRegistryServiceClient(conn),
		reader:  regclient.NewRemote(conn),
		http:    &http.Client{},
		baseURL: baseURL,
		token:   token,
	}
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

func input(in regclient.SchemaInput) *registryv1.SchemaInput {
	p := &registryv1.SchemaInput{SchemaType: registryv1.SchemaType_SCHEMA_TYPE_PROTOBUF, Text: in.Text}
	for _, ref := range in.References {
		p.References = append(p.References, &registryv1.Reference{Name: ref.Name, Subject: ref.Subject, Version: int32(ref.Version)})
	}
	return p
}

// lookUp returns the live version of subject holding in, or 0.
func (r *Remote) lookUp(ctx context.Context, subject string, in regclient.SchemaInput) (int, error) {
	resp, err := r.api.LookUp(ctx, &registryv1.LookUpRequest{Subject: subject, Schema: input(in)})
	if err != nil {
		err = callError("look up "+subject, err)
		if regclient.IsNotFound(err) {
			return 0, nil
		}
		return 0, err
	}
	return int(resp.GetSubjectVersion().GetVersion()), nil
}

// versions lists subject's live versions; none when it does not exist.
func (r *Remote) versions(ctx context.Context, subject string) ([]int, error) {
	resp, err := r.api.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: subject})
	if err != nil {
		err = callError("list versions of "+subject, err)
		if regclient.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]int, len(resp.GetVersions()))
	for i, v := range resp.GetVersions() {
		out[i] = int(v)
	}
	return out, nil
}

// check asks whether in may be registered under subject, against the
// versions its compatibility level compares with.
func (r *Remote) check(ctx context.Context, subject string, in regclient.SchemaInput) ([]string, error) {
	resp, err := r.api.CheckCompatibility(ctx, &registryv1.CheckCompatibilityRequest{
		Subject: subject,
		Against: &registryv1.CheckCompatibilityRequest_AllVersions{AllVersions: true},
		Schema:  input(in),
	})
	if err != nil {
		return nil, callError("check "+subject, err)
	}
	return resp.GetMessages(), nil
}

// register registers in under subject and returns its id.
func (r *Remote) register(ctx context.Context, subject string, in regclient.SchemaInput) (int32, error) {
	resp, err := r.api.Register(ctx, &registryv1.RegisterRequest{Subject: subject, Schema: input(in)})
	if err != nil {
		return 0, callError("register "+subject, err)
	}
	return resp.GetId(), nil
}

// version fetches and compiles one version of subject.
func (r *Remote) version(ctx context.Context, subject string, version int) (*regclient.SubjectVersion, error) {
	sv, err := r.reader.Version(ctx, subject, version, false)
	if err != nil {
		return nil, callError(fmt.Sprintf("read %s version %d", subject, version), err)
	}
	return sv, nil
}

// level returns subject's compatibility level, or the registry's global
// one, through the REST API.
func (r *Remote) level(ctx context.Context, subject string) (string, error) {
	u := r.baseURL + "/config/" + url.PathEscape(subject) + "?defaultToGlobal=true"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return "", &ConnectionError{fmt.Errorf("read the compatibility level of %s: the registry cannot be reached: %w", subject, err)}
	}
	defer resp.Body.Close()
	var body struct {
		Level     string `json:"compatibilityLevel"`
		ErrorCode int    `json:"error_code"`
		Message   string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("read the compatibility level of %s: %s: %w", subject, resp.Status, err)
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return "", &ConnectionError{fmt.Errorf("read the compatibility level of %s: the registry refused the credentials (%s): %s", subject, resp.Status, body.Message)}
	case resp.StatusCode != http.StatusOK:
		return "", &regclient.Error{Code: body.ErrorCode, Message: body.Message}
	}
	return body.Level, nil
}
