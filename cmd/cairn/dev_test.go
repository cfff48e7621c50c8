package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/auth"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
)

// TestDevLogsTypeRegisteredAtRunTime: a team registers its own event type
// through the registry's REST API while cairn dev runs, and publishes an
// event of it; the logging worker decodes and logs it, and nothing is
// dead-lettered, though no Go type for it exists in this binary.
func TestDevLogsTypeRegisteredAtRunTime(t *testing.T) {
	gatewayAddr, kafkaAddr, registryAddr, adminAddr := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var devErr lockedBuffer
	devDone := make(chan int, 1)
	go func() {
		devDone <- run(ctx, []string{"dev", "--gateway-addr", gatewayAddr, "--kafka-addr", kafkaAddr, "--registry-addr", registryAddr, "--admin-addr", adminAddr, "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, new(bytes.Buffer), &devErr)
	}()

	// shop.v1.OrderPlaced, on a topic cairn dev has, keyed by player.
	opts := &descriptorpb.MessageOptions{}
	proto.SetExtension(opts, optionsv1.E_Event, &optionsv1.EventOptions{Topic: "cairn.player.events", KeyField: "player_id"})
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("shop/v1/order_placed.proto"),
		Package:    proto.String("shop.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"cairn/options/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name:    proto.String("OrderPlaced"),
			Options: opts,
			Field: []*descriptorpb.FieldDescriptorProto{
				{Name: proto.String("order_id"), JsonName: proto.String("orderId"), Number: proto.Int32(1), Type: str, Label: opt},
				{Name: proto.String("player_id"), JsonName: proto.String("playerId"), Number: proto.Int32(2), Type: str, Label: opt},
			},
		}},
	}
	fd, err := protodesc.NewFile(fdp, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := proto.Marshal(fdp)
	if err != nil {
		t.Fatal(err)
	}
	body, err := json.Marshal(map[string]any{
		"schemaType": "PROTOBUF",
		"schema":     base64.StdEncoding.EncodeToString(raw),
		"references": []map[string]any{{"name": "cairn/options/v1/options.proto", "subject": "cairn/options/v1/options.proto", "version": 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second) // a loaded machine starts slowly under the race detector
	for {
		resp, err := http.Post("http://"+registryAddr+"/subjects/shop.v1.OrderPlaced/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
		if err == nil {
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
			t.Fatalf("register shop.v1.OrderPlaced: %d %s", resp.StatusCode, answer)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry never answered: %v\n%s", err, devLog(&devErr))
		}
		time.Sleep(200 * time.Millisecond)
	}

	md := fd.Messages().Get(0)
	order := dynamicpb.NewMessage(md)
	order.Set(md.Fields().ByName("order_id"), protoreflect.ValueOfString("order-4711"))
	order.Set(md.Fields().ByName("player_id"), protoreflect.ValueOfString("5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01"))
	payload, err := proto.Marshal(order)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(gatewayAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gw := gatewayv1.NewEventGatewayClient(conn)
	callCtx := metadata.AppendToOutgoingContext(t.Context(), "x-api-key", auth.DevAPIKey)
	req := &gatewayv1.PublishRequest{Event: &gatewayv1.Event{
		EventId:    "0b9b4f3e-5c1d-4e8a-9f2b-7a6c5d4e3f21",
		OccurredAt: timestamppb.Now(),
		Payload:    &anypb.Any{TypeUrl: "type.googleapis.com/shop.v1.OrderPlaced", Value: payload},
	}}
	for {
		callCtx, cancel := context.WithTimeout(callCtx, 5*time.Second)
		_, err := gw.Publish(callCtx, req)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish shop.v1.OrderPlaced: %v\n%s", err, devLog(&devErr))
		}
		time.Sleep(200 * time.Millisecond)
	}

	deadline = time.Now().Add(60 * time.Second)
	for !strings.Contains(devLog(&devErr), "order-4711") {
		if time.Now().After(deadline) {
			t.Fatalf("the logging worker never logged the order:\n%s", devLog(&devErr))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	select {
	case code := <-devDone:
		if code != 0 {
			t.Fatalf("dev exited %d:\n%s", code, devLog(&devErr))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
	log := devLog(&devErr)
	if !strings.Contains(log, "shop.v1.OrderPlaced") {
		t.Errorf("the order was not logged with its type:\n%s", log)
	}
	if strings.Contains(log, "dead-letter") || strings.Contains(log, "poison") {
		t.Errorf("a record was dead-lettered:\n%s", log)
	}
}
