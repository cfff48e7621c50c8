package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/schemaload"
	"github.com/cairnhq/cairn/internal/testaddr"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// TestExampleCI runs the example schema repository's CI steps (buf lint,
// buf breaking, cairn schema check, cairn schema push) against a cairn dev
// it starts, then the example Go service, which publishes the team's new
// events through the gateway: they are accepted with no restart and land
// on the topic the schema declares, created with its declared shape.
func TestExampleCI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cairn and runs the example's CI")
	}
	buf, err := exec.LookPath("buf")
	if err != nil {
		t.Skip("buf is not on PATH: run through make test, which installs it into ./bin")
	}
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "cairn")
	build := exec.CommandContext(t.Context(), "go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build cairn: %v\n%s", err, out)
	}

	gatewayAddr, kafkaAddr, registryAddr := testaddr.Get(t), testaddr.Get(t), testaddr.Get(t)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	devOut := new(lockedBuffer)
	devDone := make(chan int, 1)
	go func() {
		devDone <- run(ctx, []string{"dev", "--gateway-addr", gatewayAddr, "--kafka-addr", kafkaAddr, "--registry-addr", registryAddr,
			"--admin-addr", testaddr.Get(t), "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "registry.db")}, new(bytes.Buffer), devOut)
	}()
	defer func() {
		stop()
		<-devDone
		if t.Failed() {
			t.Logf("cairn dev:\n%s", devLog(devOut))
		}
	}()
	waitListening(t, gatewayAddr)

	env := append(os.Environ(),
		"CAIRN="+bin, "BUF="+buf, "BASE_REF=HEAD", "CAIRN_TIMEOUT=5m",
		"CAIRN_REGISTRY_ADDR="+registryAddr, "CAIRN_KAFKA_BROKERS="+kafkaAddr)
	step := func(steps ...string) string {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), filepath.Join(repo, "examples/schema-repo/ci.sh"), steps...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ci.sh %s: %v\n%s", strings.Join(steps, " "), err, out)
		}
		return string(out)
	}
	out := step("deps", "lint", "breaking", "check")
	mustContain(t, "merge request steps", out, "new            shop.v1.OrderPlaced", "new            shop.v1.OrderShipped", "may be pushed")
	out = step("push")
	mustContain(t, "main branch push", out, "registered     shop.v1.OrderPlaced  (version 1)", "topic created  shop.orders")
	out = step("push")
	mustContain(t, "second push", out, "nothing to register")

	admin, err := kafkax.NewAdmin(kafkaAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	state, found, err := admin.DescribeTopic(t.Context(), "shop.orders")
	if err != nil || !found || state.Partitions != 3 || state.RetentionMs != 604800000 {
		t.Fatalf("shop.orders: %+v, found %v, %v; want 3 partitions and 7 days' retention", state, found, err)
	}

	svc := exec.CommandContext(t.Context(), "go", "run", "./examples/go-service", "--orders", "3")
	svc.Dir = repo
	svc.Env = append(os.Environ(), "CAIRN_GATEWAY_ADDR="+gatewayAddr, "CAIRN_API_KEY="+auth.DevAPIKey)
	svcOut, err := svc.CombinedOutput()
	t.Logf("go-service:\n%s", svcOut)
	if err != nil {
		t.Fatalf("go-service: %v", err)
	}
	publishNewTeamEvent(t, registryAddr, gatewayAddr, admin)
	if n := strings.Count(string(svcOut), "msg=accepted"); n != 6 {
		t.Errorf("go-service: %d events accepted, want 6", n)
	}
	mustContain(t, "go-service", string(svcOut), "type=shop.v1.OrderPlaced", "type=shop.v1.OrderShipped", "topic=shop.orders", "msg=done")
}

// waitListening waits until something accepts connections on addr.
func waitListening(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := (&net.Dialer{}).DialContext(t.Context(), "tcp", addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// publishNewTeamEvent pushes a new team's module to cairn dev without
// --kafka-brokers: dev creates the event's topic from its options, and the
// gateway accepts the new type, with no restart, onto that topic.
func publishNewTeamEvent(t *testing.T, registryAddr, gatewayAddr string, admin *kafkax.Admin) {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"buf.yaml": "version: v2\n", "pay/v1/payment_captured.proto": `syntax = "proto3";
package pay.v1;
import "cairn/options/v1/options.proto";
message PaymentCaptured {
  option (cairn.options.v1.event) = {topic: "pay.payments", key_field: "payment_id", partitions: 2};
  string payment_id = 1;
  int64 cents = 2;
}
`})
	var out, errb bytes.Buffer
	if code := run(t.Context(), []string{"schema", "push", "--timeout", "5m", "--registry-addr", registryAddr, dir}, &out, &errb); code != 0 {
		t.Fatalf("push of a new team's module: exit %d\n%s%s", code, out.String(), errb.String())
	}
	set, err := schemaload.Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	md := set.Events()[0]
	msg := dynamicpb.NewMessage(md)
	msg.Set(md.Fields().ByName("payment_id"), protoreflect.ValueOfString("pay-1"))
	msg.Set(md.Fields().ByName("cents"), protoreflect.ValueOfInt64(1250))
	value, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(gatewayAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(t.Context(), "x-api-key", auth.DevAPIKey)
	req := &gatewayv1.PublishRequest{Event: &gatewayv1.Event{
		EventId:    "5f0c6c1e-8d3b-4a5e-9a57-3d0f2a7c9b11",
		OccurredAt: timestamppb.Now(),
		Payload:    &anypb.Any{TypeUrl: "type.googleapis.com/pay.v1.PaymentCaptured", Value: value},
	}}
	// dev provisions the topic within a quarter of a second of the push;
	// until then the gateway cannot produce to it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, found, err := admin.DescribeTopic(t.Context(), "pay.payments")
		if err != nil {
			t.Fatal(err)
		}
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("cairn dev did not create pay.payments")
		}
		time.Sleep(50 * time.Millisecond)
	}
	state, _, err := admin.DescribeTopic(t.Context(), "pay.payments")
	if err != nil || state.Partitions != 2 {
		t.Errorf("pay.payments: %+v, %v; want the 2 partitions declared", state, err)
	}
	resp, err := gatewayv1.NewEventGatewayClient(conn).Publish(ctx, req)
	if err != nil {
		t.Fatalf("publish the new type: %v", err)
	}
	if resp.GetTopic() != "pay.payments" {
		t.Errorf("accepted onto %q, want pay.payments", resp.GetTopic())
	}
}
