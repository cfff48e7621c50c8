package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"

	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/kafkax"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// rejection is an event the gateway refuses: the client must change it.
type rejection struct {
	msg        string
	code       codes.Code                     // zero means InvalidArgument
	violations *protovalidate.ValidationError // nil unless rules failed
	prefix     string                         // path of the validated message within the request
}

func (r *rejection) Error() string { return r.msg }

// rateLimited is an event refused because its principal is over its rate.
type rateLimited struct {
	principal string
	retry     time.Duration
}

func (r *rateLimited) Error() string {
	return fmt.Sprintf("rate limit of %s exceeded; retry in %s", r.principal, r.retry.Round(time.Millisecond))
}

var (
	// errKafkaTimeout: Kafka did not acknowledge within the produce timeout.
	errKafkaTimeout = errors.New("kafka did not acknowledge in time")
	// errBusy: no room among the in-flight bytes within the produce timeout.
	errBusy = errors.New("gateway busy: too many bytes waiting for Kafka")
	// errRegistry: the registry could not be asked.
	errRegistry = errors.New("registry unavailable")
	// errDraining: the gateway is shutting down.
	errDraining = errors.New("gateway shutting down")
)

func invalidEnvelope(err error) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return err
	}
	return &rejection{msg: "invalid event: " + describe(verr), violations: verr}
}

func invalidPayload(name protoreflect.FullName, err error) error {
	var verr *protovalidate.ValidationError
	if !errors.As(err, &verr) {
		return fmt.Errorf("validate %s: %w", name, err) // neither the event's fault nor its rules': ours
	}
	return &rejection{msg: "invalid " + string(name) + ": " + describe(verr), violations: verr, prefix: "event.payload"}
}

func unknownType(name protoreflect.FullName, err error) error {
	if !errors.Is(err, regclient.ErrNotFound) {
		return fmt.Errorf("%w: resolve %s: %w", errRegistry, name, err)
	}
	return &rejection{msg: fmt.Sprintf("unknown event type %q: no schema registered for it", name)}
}

func unknownFieldRejection(name protoreflect.FullName, path string, num protoreflect.FieldNumber) error {
	where := string(name)
	if path != "" {
		where += "." + path
	}
	return &rejection{msg: fmt.Sprintf("payload has field number %d, which %s does not declare in its registered schema", num, where)}
}

// describe lists the violations as "path: message; path: message".
func describe(verr *protovalidate.ValidationError) string {
	parts := make([]string, 0, len(verr.Violations))
	for _, v := range verr.Violations {
		path := protovalidate.FieldPathString(v.Proto.GetField())
		if path == "" {
			parts = append(parts, v.Proto.GetMessage())
			continue
		}
		parts = append(parts, path+": "+v.Proto.GetMessage())
	}
	return strings.Join(parts, "; ")
}

// status maps an error from publishing an event to the status the client
// sees. It is the one place where the gateway chooses gRPC codes; internal
// error text never reaches the client.
func (s *Server) status(log *slog.Logger, err error) *status.Status {
	var (
		rej     *rejection
		limited *rateLimited
	)
	switch {
	case errors.As(err, &rej):
		log.Debug("event rejected", "reason", rej.msg)
		return rej.status()
	case errors.Is(err, auth.ErrUnauthenticated):
		log.Info("call unauthenticated", "reason", err.Error())
		return status.New(codes.Unauthenticated, err.Error())
	case errors.Is(err, auth.ErrPermissionDenied):
		log.Info("event not permitted", "reason", err.Error())
		return status.New(codes.PermissionDenied, err.Error())
	case errors.As(err, &limited):
		return withDetails(status.New(codes.ResourceExhausted, limited.Error()),
			&errdetails.RetryInfo{RetryDelay: durationpb.New(limited.retry)})
	case errors.Is(err, errKafkaTimeout):
		log.Warn("produce timed out", "error", err)
		return withDetails(status.New(codes.Unavailable, "Kafka did not acknowledge the event in time; retry with the same event_id"),
			&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	case errors.Is(err, errBusy):
		log.Warn("gateway busy", "error", err)
		return withDetails(status.New(codes.Unavailable, "the gateway has too many events waiting for Kafka; retry with the same event_id"),
			&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	case errors.Is(err, kafkax.ErrProduce):
		log.Warn("produce failed", "error", err)
		return withDetails(status.New(codes.Unavailable, "Kafka did not accept the event; retry with the same event_id"),
			&errdetails.RetryInfo{RetryDelay: durationpb.New(time.Second)})
	case errors.Is(err, errRegistry):
		log.Warn("registry unavailable", "error", err)
		return status.New(codes.Unavailable, "the schema registry is unavailable; retry with the same event_id")
	case errors.Is(err, errDraining):
		return status.New(codes.Unavailable, "the gateway is shutting down; send events without a result again")
	case errors.Is(err, context.DeadlineExceeded):
		log.Warn("publish timed out", "error", err)
		return status.New(codes.DeadlineExceeded, "deadline exceeded before Kafka acknowledged the event; retry with the same event_id")
	case errors.Is(err, context.Canceled):
		return status.New(codes.Canceled, "call canceled")
	default:
		log.Error("publish failed", "error", err)
		return status.New(codes.Internal, "internal error")
	}
}

func withDetails(st *status.Status, details ...protoadapt.MessageV1) *status.Status {
	detailed, err := st.WithDetails(details...)
	if err != nil {
		return st
	}
	return detailed
}

func (r *rejection) status() *status.Status {
	code := r.code
	if code == codes.OK {
		code = codes.InvalidArgument
	}
	st := status.New(code, r.msg)
	if r.violations == nil {
		return st
	}
	br := &errdetails.BadRequest{}
	for _, v := range r.violations.Violations {
		path := protovalidate.FieldPathString(v.Proto.GetField())
		if r.prefix != "" {
			path = r.prefix + "." + path
		}
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{
			Field:       path,
			Description: v.Proto.GetMessage(),
		})
	}
	return withDetails(st, protoadapt.MessageV1Of(r.violations.ToProto()), br)
}

// rejected turns a status into the per-event result of a batch or stream.
func rejected(st *status.Status) *gatewayv1.Rejected {
	r := &gatewayv1.Rejected{Code: int32(st.Code()), Message: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *validate.Violations:
			r.Violations = d
		case *errdetails.RetryInfo:
			r.RetryAfter = d.GetRetryDelay()
		}
	}
	return r
}
