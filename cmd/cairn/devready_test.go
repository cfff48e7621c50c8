package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/testaddr"
)

// TestDevSaysWhereEverythingIs starts cairn dev, waits for its ready block
// and checks that it names each address, the dev API key and a first
// command, then runs that command against it.
func TestDevSaysWhereEverythingIs(t *testing.T) {
	gatewayAddr, kafkaAddr, registryAddr, adminAddr := testaddr.Get(t), testaddr.Get(t), testaddr.Get(t), testaddr.Get(t)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var devOut, devErr lockedBuffer
	devDone := make(chan int, 1)
	go func() {
		devDone <- run(ctx, []string{"dev", "--gateway-addr", gatewayAddr, "--kafka-addr", kafkaAddr, "--registry-addr", registryAddr, "--admin-addr", adminAddr, "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, &devOut, &devErr)
	}()
	defer func() {
		stop()
		if code := <-devDone; code != 0 || t.Failed() {
			t.Logf("cairn dev exited %d:\n%s", code, devLog(&devErr))
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(devLog(&devOut), "cairn dev is ready.") {
		if time.Now().After(deadline) {
			t.Fatalf("cairn dev never said it was ready; stdout: %q", devLog(&devOut))
		}
		time.Sleep(100 * time.Millisecond)
	}
	out := devLog(&devOut)
	for _, want := range []string{
		"  gateway   " + gatewayAddr + "  ",
		"  registry  http://" + registryAddr + "  ",
		"  kafka     " + kafkaAddr + "\n",
		"  admin     http://" + adminAddr + "/metrics",
		"  console   http://" + adminAddr + "/\n",
		"  api key   " + auth.DevAPIKey + "  ",
		"  cairn publish --gateway-addr " + gatewayAddr + " cairn.hunt.v1.PlayerRegistered \\\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the ready block lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "cairn dev is ready."); n != 1 {
		t.Errorf("said ready %d times, want once", n)
	}

	// The command it suggests works as printed.
	_, cmd, _ := strings.Cut(out, "  cairn publish ")
	cmd = strings.ReplaceAll(cmd, "\\\n", " ")
	fields := strings.Fields(strings.TrimSpace(cmd[:strings.Index(cmd, "'")]))
	payload := cmd[strings.Index(cmd, "'")+1 : strings.LastIndex(cmd, "'")]
	args := append(append([]string{"publish"}, fields...), payload)
	var pubOut, pubErr bytes.Buffer
	if code := run(t.Context(), args, &pubOut, &pubErr); code != 0 {
		t.Fatalf("cairn %s: exit %d: %s", strings.Join(args, " "), code, pubErr.String())
	}
	if !strings.HasPrefix(pubOut.String(), "accepted cairn.hunt.v1.PlayerRegistered") {
		t.Errorf("the suggested publish printed %q", pubOut.String())
	}
}

func TestWriteDevReadyDefaultAddresses(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	writeDevReady(&b, devAddrs{Gateway: "127.0.0.1:50051", Registry: "127.0.0.1:8081", Kafka: "127.0.0.1:9092", Admin: "127.0.0.1:9464"})
	want := `
cairn dev is ready.

  gateway   127.0.0.1:50051  (gRPC: EventGateway, HuntService)
  registry  http://127.0.0.1:8081  (Confluent REST and gRPC)
  kafka     127.0.0.1:9092
  admin     http://127.0.0.1:9464/metrics  /healthz  /readyz
  console   http://127.0.0.1:9464/
  api key   cairn-dev-key-0000-not-a-secret  (role service; cairn publish sends it by default)

Try, in another terminal:

  cairn publish cairn.hunt.v1.PlayerRegistered \
    '{"playerId": "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}'

`
	if got := b.String(); got != want {
		t.Errorf("ready block:\n%s\nwant:\n%s", got, want)
	}
	b.Reset()
	writeDevReady(&b, devAddrs{Gateway: "127.0.0.1:50051", Registry: "127.0.0.1:8081", Kafka: "127.0.0.1:9092", Admin: "127.0.0.1:9464", NoHuntService: true})
	if want := "  gateway   127.0.0.1:50051  (gRPC: EventGateway; no workers, so no HuntService)\n"; !strings.Contains(b.String(), want) {
		t.Errorf("ready block of dev --no-workers:\n%s\nwant the line:\n%s", b.String(), want)
	}
}
