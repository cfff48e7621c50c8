package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

// TestDevThenPublish runs the README's first session: cairn dev, then cairn
// publish of a valid and of an invalid event, then Ctrl-C.
func TestDevThenPublish(t *testing.T) {
	gatewayAddr, kafkaAddr, registryAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	ctx, stop := context.WithCancel(t.Context())
	var devErr lockedBuffer
	devDone := make(chan int, 1)
	go func() {
		devDone <- run(ctx, []string{"dev", "--gateway-addr", gatewayAddr, "--kafka-addr", kafkaAddr, "--registry-addr", registryAddr, "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, new(bytes.Buffer), &devErr)
	}()

	body := `{"playerId": "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}`
	var out, errOut bytes.Buffer
	deadline := time.Now().Add(20 * time.Second)
	for {
		out.Reset()
		errOut.Reset()
		code := run(t.Context(), []string{"publish", "--gateway-addr", gatewayAddr, "--timeout", "2s", "cairn.hunt.v1.PlayerRegistered", body}, &out, &errOut)
		if code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish never succeeded: exit %d: %s", code, errOut.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(out.String(), "topic=cairn.player.events") || !strings.Contains(out.String(), "offset=") {
		t.Errorf("publish printed %q", out.String())
	}

	out.Reset()
	errOut.Reset()
	bad := strings.Replace(body, "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "nope", 1)
	if code := run(t.Context(), []string{"publish", "--gateway-addr", gatewayAddr, "cairn.hunt.v1.PlayerRegistered", bad}, &out, &errOut); code != 1 {
		t.Errorf("publish of an invalid event: exit %d, want 1", code)
	}
	if !strings.Contains(errOut.String(), "InvalidArgument") || !strings.Contains(errOut.String(), "player_id") {
		t.Errorf("publish of an invalid event printed %q", errOut.String())
	}

	// The worker logs the decoded event.
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(devLog(&devErr), `displayName\":\"Ada`) {
		if time.Now().After(deadline) {
			t.Fatalf("worker never logged the event:\n%s", devLog(&devErr))
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
}

// lockedBuffer is a buffer that dev's goroutines write while the test reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func devLog(b *lockedBuffer) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		env  map[string]string
		code int
		want string
	}{
		{nil, nil, 2, "Usage: cairn <command>"},
		{[]string{"help"}, nil, 0, "Commands:"},
		{[]string{"bogus"}, nil, 2, `unknown command "bogus"`},
		{[]string{"dev", "--help"}, nil, 0, "[$CAIRN_GATEWAY_ADDR]"},
		{[]string{"dev", "--gateway-addr", "nowhere"}, nil, 2, `--gateway-addr "nowhere": want host:port`},
		{[]string{"dev", "--partitions", "0"}, nil, 2, "--partitions 0: want 1 to 1000"},
		{[]string{"dev", "extra"}, nil, 2, "unexpected arguments"},
		{[]string{"dev"}, map[string]string{"CAIRN_KAFKA_ADDR": "127.0.0.1:99999"}, 2, "port must be a number from 0 to 65535"},
		{[]string{"dev"}, map[string]string{"CAIRN_SHUTDOWN_TIMEOUT": "soon"}, 2, `CAIRN_SHUTDOWN_TIMEOUT="soon"`},
		{[]string{"dev", "--log-format", "xml"}, nil, 2, "want text or json"},
		{[]string{"publish", "cairn.hunt.v1.PlayerRegistered"}, nil, 2, "want TYPE and JSON, got 1 arguments"},
		{[]string{"publish", "not a type", "{}"}, nil, 2, `TYPE "not a type" is not a message name`},
		{[]string{"publish", "cairn.hunt.v1.Nope", "{}"}, nil, 2, `unknown event type "cairn.hunt.v1.Nope"`},
		{[]string{"publish", "cairn.hunt.v1.PlayerRegistered", "{bad json"}, nil, 2, "JSON body is not a cairn.hunt.v1.PlayerRegistered"},
		{[]string{"publish", "cairn.hunt.v1.PlayerRegistered", "@/nonexistent/file.json"}, nil, 2, "no such file"},
		{[]string{"publish", "--header", "novalue", "cairn.hunt.v1.PlayerRegistered", "{}"}, nil, 2, "want NAME=VALUE"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := run(t.Context(), tt.args, &out, &errOut)
			if code != tt.code || !strings.Contains(errOut.String(), tt.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut.String(), tt.code, tt.want)
			}
		})
	}
}

func TestPublishUnreachableGateway(t *testing.T) {
	var out, errOut bytes.Buffer
	addr := freeAddr(t) // nothing listens there now
	body := `{"playerId": "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}`
	code := run(t.Context(), []string{"publish", "--gateway-addr", addr, "--timeout", "1s", "cairn.hunt.v1.PlayerRegistered", body}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "Unavailable") {
		t.Errorf("exit %d, stderr %q; want 1 and Unavailable", code, errOut.String())
	}
}
