package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"buf.build/go/protovalidate"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	"github.com/cairnhq/cairn/registry"
)

// rejection is an event the gateway refuses: the client must change it.
type rejection struct {
	msg        string
	violations *protovalidate.ValidationError // nil unless rules failed
	prefix     string                         // path of the validated message within the request
}

func (r *rejection) Error() string { return r.msg }

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
		return fmt.Errorf("validate %s: %w", name, err) // a rule that cannot run: our fault
	}
	return &rejection{msg: "invalid " + string(name) + ": " + describe(verr), violations: verr, prefix: "event.payload"}
}

func unknownType(name protoreflect.FullName, err error) error {
	if !errors.Is(err, registry.ErrNotFound) {
		return err
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

// status maps an error from publish to the status the client sees. It is
// the one place where the gateway chooses gRPC codes; internal error text
// never reaches the client.
func (s *Server) status(ctx context.Context, ev *gatewayv1.Event, err error) error {
	log := s.cfg.Logger.With("event_id", ev.GetEventId(), "type_url", ev.GetPayload().GetTypeUrl())
	var rej *rejection
	switch {
	case errors.As(err, &rej):
		log.Debug("event rejected", "reason", rej.msg)
		return rej.status()
	case errors.Is(err, context.DeadlineExceeded):
		log.Warn("publish timed out", "error", err)
		return status.Error(codes.DeadlineExceeded, "deadline exceeded before Kafka acknowledged the event; retry with the same event_id")
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, "call canceled")
	case errors.Is(err, kafkax.ErrProduce):
		log.Warn("produce failed", "error", err)
		return status.Error(codes.Unavailable, "Kafka did not accept the event; retry with the same event_id")
	default:
		log.Error("publish failed", "error", err)
		return status.Error(codes.Internal, "internal error")
	}
}

func (r *rejection) status() error {
	st := status.New(codes.InvalidArgument, r.msg)
	if r.violations == nil {
		return st.Err()
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
	detailed, err := st.WithDetails(protoadapt.MessageV1Of(r.violations.ToProto()), br)
	if err != nil {
		return st.Err()
	}
	return detailed.Err()
}
