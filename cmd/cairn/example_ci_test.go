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

	"github.com/cairnhq/cairn/gateway/auth"
	"github.com/cairnhq/cairn/internal/kafkax"
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

	gatewayAddr, kafkaAddr, registryAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	devOut := new(lockedBuffer)
	devDone := make(chan int, 1)
	go func() {
		devDone <- run(ctx, []string{"dev", "--gateway-addr", gatewayAddr, "--kafka-addr", kafkaAddr, "--registry-addr", registryAddr,
			"--admin-addr", freeAddr(t), "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "registry.db")}, new(bytes.Buffer), devOut)
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
		"CAIRN="+bin, "BUF="+buf, "BASE_REF=HEAD",
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
