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
	"github.com/cairnhq/cairn/internal/testaddr"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
)

// TestDevLogsTypeRegisteredAtRunTime: a team registers its own event types
// through the registry's REST API while cairn dev runs, one on a topic dev
// has and one on a topic that did not exist (dev creates it from the
// event's options, as schema push does), and publishes an event of each;
// the logging worker decodes and logs both, with no restart, and nothing
// is dead-lettered, though no Go type for them exists in this binary.
func TestDevLogsTypeRegisteredAtRunTime(t *testing.T) {
	gatewayAddr, kafkaAddr, registryAddr, adminAddr := testaddr.Get(t), testaddr.Get(t), testaddr.Get(t), testaddr.Get(t)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var devErr lockedBuffer
	devDone := make(chan int, 1)
	go func() {
		devDone <- run(ctx, []string{"dev", "--gateway-addr", gatewayAddr, "--kafka-addr", kafkaAddr, "--registry-addr", registryAddr, "--admin-addr", adminAddr, "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, new(bytes.Buffer), &devErr)
	}()
	conn, err := grpc.NewClient(gatewayAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	gw := gatewayv1.NewEventGatewayClient(conn)

	deadline := time.Now().Add(90 * time.Second) // a loaded machine starts slowly under the race detector
	for _, tc := range []struct {
		name, topic, id string
	}{
		{"OrderPlaced", "cairn.player.events", "order-4711"}, // a topic dev has
		{"ParcelScanned", "shop.parcels", "parcel-0815"},     // a topic made while dev runs
	} {
		md := registerShopEvent(t, registryAddr, tc.name, tc.topic, deadline, &devErr)
		msg := dynamicpb.NewMessage(md)
		msg.Set(md.Fields().ByName("order_id"), protoreflect.ValueOfString(tc.id))
		msg.Set(md.Fields().ByName("player_id"), protoreflect.ValueOfString("5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01"))
		payload, err := proto.Marshal(msg)
		if err != nil {
			t.Fatal(err)
		}
		callCtx := metadata.AppendToOutgoingContext(t.Context(), "x-api-key", auth.DevAPIKey)
		req := &gatewayv1.PublishRequest{Event: &gatewayv1.Event{
			EventId:    "0b9b4f3e-5c1d-4e8a-9f2b-7a6c5d4e3f2" + tc.id[len(tc.id)-1:],
			OccurredAt: timestamppb.Now(),
			Payload:    &anypb.Any{TypeUrl: "type.googleapis.com/" + string(md.FullName()), Value: payload},
		}}
		// Until its topic exists, the gateway refuses the event with
		// FailedPrecondition; the same event id makes the retry one event.
		for {
			callCtx, cancel := context.WithTimeout(callCtx, 5*time.Second)
			resp, err := gw.Publish(callCtx, req)
			cancel()
			if err == nil {
				if got := resp.GetTopic(); got != tc.topic {
					t.Fatalf("%s accepted on topic %q, want %q", md.FullName(), got, tc.topic)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s: %v\n%s", md.FullName(), err, devLog(&devErr))
			}
			time.Sleep(200 * time.Millisecond)
		}
		logged := time.Now().Add(60 * time.Second)
		for !strings.Contains(devLog(&devErr), tc.id) {
			if time.Now().After(logged) {
				t.Fatalf("the logging worker never logged %s:\n%s", tc.id, devLog(&devErr))
			}
			time.Sleep(100 * time.Millisecond)
		}
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
	for _, want := range []string{"shop.v1.OrderPlaced", "shop.v1.ParcelScanned", "topic=shop.parcels"} {
		if !strings.Contains(log, want) {
			t.Errorf("the log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, "dead-letter") || strings.Contains(log, "poison") {
		t.Errorf("a record was dead-lettered:\n%s", log)
	}
}

// registerShopEvent registers shop.v1.<name> (order_id, player_id), an
// event on topic keyed by player, through the registry's REST API at addr,
// retrying until deadline while the registry starts.
func registerShopEvent(t *testing.T, addr, name, topic string, deadline time.Time, devErr *lockedBuffer) protoreflect.MessageDescriptor {
	t.Helper()
	opts := &descriptorpb.MessageOptions{}
	proto.SetExtension(opts, optionsv1.E_Event, &optionsv1.EventOptions{Topic: topic, KeyField: "player_id"})
	str := descriptorpb.FieldDescriptorProto_TYPE_STRING.Enum()
	opt := descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL.Enum()
	fdp := &descriptorpb.FileDescriptorProto{
		Name:       proto.String("shop/v1/" + strings.ToLower(name) + ".proto"),
		Package:    proto.String("shop.v1"),
		Syntax:     proto.String("proto3"),
		Dependency: []string{"cairn/options/v1/options.proto"},
		MessageType: []*descriptorpb.DescriptorProto{{
			Name:    proto.String(name),
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
	subject := "shop.v1." + name
	for {
		resp, err := http.Post("http://"+addr+"/subjects/"+subject+"/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
		if err == nil {
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return fd.Messages().Get(0)
			}
			t.Fatalf("register %s: %d %s", subject, resp.StatusCode, answer)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the registry never answered: %v\n%s", err, devLog(devErr))
		}
		time.Sleep(200 * time.Millisecond)
	}
}
