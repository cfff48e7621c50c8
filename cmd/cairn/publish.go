package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	_ "github.com/cairnhq/cairn/proto/cairn/hunt/v1" // the event types publish can encode
)

type publishConfig struct {
	GatewayAddr string
	EventID     string
	Timeout     time.Duration
	Headers     map[string]string
	Type        protoreflect.FullName
	Body        string
	Creds       callerCredentials
	Etcd        etcdConfig
}

func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := publishConfig{Headers: make(map[string]string)}
	fs := newFlagSet("publish", "[flags] TYPE JSON",
		"Publishes one event through the gateway and prints where Kafka stored it, or\n"+
			"why the gateway rejected it. TYPE is the event's full name, for example\n"+
			"cairn.hunt.v1.PlayerRegistered; JSON is its body in ProtoJSON, @FILE to read\n"+
			"it from a file, or - to read it from standard input.\n\n"+
			"Example:\n"+
			"  cairn publish cairn.hunt.v1.PlayerRegistered \\\n"+
			"    '{\"playerId\": \"5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01\", \"displayName\": \"Ada\",\n"+
			"      \"registeredAt\": \"2026-11-21T10:00:00Z\"}'",
		stderr)
	fs.StringVar(&cfg.GatewayAddr, "gateway-addr", "127.0.0.1:50051", "gateway gRPC address, or etcd:///gateway")
	fs.StringVar(&cfg.EventID, "event-id", "", "event id, a UUID; reuse it to retry the same event (default: a new random UUID)")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "how long to wait for the gateway's answer")
	cfg.Creds.register(fs)
	cfg.Etcd.registerClient(fs)
	fs.Func("header", "record header NAME=VALUE; may be repeated", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return errors.New("want NAME=VALUE")
		}
		cfg.Headers[k] = v
		return nil
	})
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.Creds.check(fs); err != nil {
		return usageError{err}
	}
	if err := checkPositive("timeout", cfg.Timeout); err != nil {
		return usageError{err}
	}
	if err := cfg.Etcd.checkTarget("gateway-addr", cfg.GatewayAddr); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 2 {
		return usageError{fmt.Errorf("want TYPE and JSON, got %d arguments", fs.NArg())}
	}
	cfg.Type = protoreflect.FullName(fs.Arg(0))
	if !cfg.Type.IsValid() {
		return usageError{fmt.Errorf("TYPE %q is not a message name like cairn.hunt.v1.PlayerRegistered", fs.Arg(0))}
	}
	body, err := readBody(fs.Arg(1))
	if err != nil {
		return usageError{err}
	}
	cfg.Body = body
	if cfg.EventID == "" {
		cfg.EventID = newUUID()
	}
	return publish(ctx, cfg, stdout)
}

func readBody(arg string) (string, error) {
	switch {
	case arg == "-":
		b, err := io.ReadAll(os.Stdin)
		return string(b), err
	case strings.HasPrefix(arg, "@"):
		b, err := os.ReadFile(arg[1:])
		return string(b), err
	}
	return arg, nil
}

func publish(ctx context.Context, cfg publishConfig, stdout io.Writer) error {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(cfg.Type)
	if err != nil {
		return usageError{fmt.Errorf("unknown event type %q: this cairn binary knows the cairn.hunt.v1 events", cfg.Type)}
	}
	msg := mt.New().Interface()
	if err := protojson.Unmarshal([]byte(cfg.Body), msg); err != nil {
		return usageError{fmt.Errorf("JSON body is not a %s: %w", cfg.Type, err)}
	}
	if err := checkHashes(msg.ProtoReflect(), ""); err != nil {
		return usageError{err}
	}
	payload, err := anypb.New(msg)
	if err != nil {
		return err
	}
	disc, err := cfg.Etcd.client(slog.Default())
	if err != nil {
		return err
	}
	defer disc.Close()
	conn, err := disc.Dial(cfg.GatewayAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("gateway %s: %w", cfg.GatewayAddr, err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if md := cfg.Creds.metadata(); md != nil {
		ctx = metadata.AppendToOutgoingContext(ctx, md...)
	}
	resp, err := gatewayv1.NewEventGatewayClient(conn).Publish(ctx, &gatewayv1.PublishRequest{Event: &gatewayv1.Event{
		EventId:    cfg.EventID,
		OccurredAt: timestamppb.Now(),
		Payload:    payload,
		Headers:    cfg.Headers,
	}})
	if err != nil {
		return gatewayFailed(cfg.GatewayAddr, conn, err)
	}
	fmt.Fprintf(stdout, "accepted %s event_id=%s topic=%s partition=%d offset=%d schema_id=%d\n",
		cfg.Type, cfg.EventID, resp.GetTopic(), resp.GetPartition(), resp.GetOffset(), resp.GetSchemaId())
	return nil
}

// rejected turns a gateway error into a readable one.
func rejected(err error) error {
	st := status.Convert(err)
	msg := fmt.Sprintf("rejected: %s: %s", st.Code(), st.Message())
	if st.Code() == codes.InvalidArgument && strings.Contains(st.Message(), "answer_sha256") {
		msg += "\n" + answerHashHint
	}
	return errors.New(msg)
}

// gatewayFailed explains a failed call to the gateway at addr: that it
// is unreachable, or why it refused.
func gatewayFailed(addr string, conn *grpc.ClientConn, err error) error {
	err = unreachable("gateway", addr, conn, err)
	if _, ok := status.FromError(err); ok {
		return rejected(err)
	}
	return err
}

// newUUID returns a random (version 4) UUID.
func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// answerHashHint says what an answerSha256 is and where to get one.
const answerHashHint = "answerSha256 is the base64 of the answer's SHA-256 (32 bytes), not hex: `cairn hunt hash ANSWER` prints it"

// checkHashes refuses a SHA-256 field (a bytes field named …sha256) that
// does not hold 32 bytes, as when its hex digits were given instead of its
// base64: the gateway's "must be 32 bytes" says too little.
func checkHashes(m protoreflect.Message, path string) error {
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		name := path + fd.JSONName()
		switch {
		case fd.Message() != nil && fd.IsList():
			for i := range v.List().Len() {
				if err = checkHashes(v.List().Get(i).Message(), fmt.Sprintf("%s[%d].", name, i)); err != nil {
					return false
				}
			}
		case fd.Message() != nil && !fd.IsMap():
			err = checkHashes(v.Message(), name+".")
		case fd.Kind() == protoreflect.BytesKind && !fd.IsList() && !fd.IsMap() &&
			strings.HasSuffix(strings.ToLower(string(fd.Name())), "sha256") && len(v.Bytes()) != sha256.Size:
			err = fmt.Errorf("%s holds %d bytes, not 32: %s", name, len(v.Bytes()), answerHashHint)
		}
		return err == nil
	})
	return err
}
