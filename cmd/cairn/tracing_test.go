package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/testaddr"
)

// clearOTEL unsets the OTEL_* variables a role reads, for the rest of the
// test, whatever the environment running the tests holds.
func clearOTEL(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "OTEL_") {
			t.Setenv(k, "") // restored when the test ends
			os.Unsetenv(k)
		}
	}
}

// TestRolesRefuseBadTracingConfig: every long-running role checks the
// OTEL_* variables at start and refuses a bad one by name, before it
// opens anything.
func TestRolesRefuseBadTracingConfig(t *testing.T) {
	clearOTEL(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4317")
	dir := t.TempDir()
	authFile := serviceAuthFile(t, dir, "svc", "svc-key-0123456789abcdef")
	for _, args := range [][]string{
		{"dev", "--database-url", "sqlite:" + filepath.Join(dir, "dev.db"), "--gateway-addr", testaddr.Get(t), "--kafka-addr", testaddr.Get(t), "--registry-addr", testaddr.Get(t), "--admin-addr", testaddr.Get(t)},
		{"registry", "--database-url", "sqlite:" + filepath.Join(dir, "registry.db"), "--registry-addr", testaddr.Get(t), "--admin-addr", testaddr.Get(t)},
		{"gateway", "--kafka-brokers", "127.0.0.1:1", "--auth-file", authFile, "--gateway-addr", testaddr.Get(t), "--admin-addr", testaddr.Get(t)},
		{"worker", "--kafka-brokers", "127.0.0.1:1", "--auth-file", authFile, "--database-url", "sqlite:" + filepath.Join(dir, "worker.db"), "--grpc-addr", testaddr.Get(t), "--admin-addr", testaddr.Get(t)},
	} {
		t.Run(args[0], func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := run(t.Context(), args, &out, &errOut)
			if code != 1 || !strings.Contains(errOut.String(), `OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4317"`) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit 1 naming OTEL_EXPORTER_OTLP_ENDPOINT", code, errOut.String())
			}
			for _, db := range []string{"dev.db", "registry.db", "worker.db"} {
				if _, err := os.Stat(filepath.Join(dir, db)); err == nil {
					t.Errorf("%s was created: the role started before refusing", db)
				}
			}
		})
	}
}

// consoleSpan is what the console exporter writes of a span.
type consoleSpan struct {
	Name        string
	SpanContext struct{ TraceID, SpanID string }
	Parent      struct{ SpanID string }
	Attributes  []struct {
		Key   string
		Value struct{ Value any }
	}
	Resource []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s consoleSpan) attr(key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return fmt.Sprint(kv.Value.Value)
		}
	}
	return ""
}

func (s consoleSpan) service() string {
	for _, kv := range s.Resource {
		if kv.Key == "service.name" {
			return fmt.Sprint(kv.Value.Value)
		}
	}
	return ""
}

// consoleSpans parses the spans among the lines of out.
func consoleSpans(t *testing.T, out string) []consoleSpan {
	t.Helper()
	var spans []consoleSpan
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Bytes(); bytes.HasPrefix(line, []byte("{")) {
			var s consoleSpan
			if err := json.Unmarshal(line, &s); err != nil {
				t.Fatalf("console span %s: %v", line, err)
			}
			spans = append(spans, s)
		}
	}
	return spans
}

// TestDevTracesToConsole runs cairn dev with OTEL_TRACES_EXPORTER=console,
// the path an operator takes, and publishes an event: its trace, from the
// gateway's call to the hunt worker's apply, is printed as cairn-dev's.
func TestDevTracesToConsole(t *testing.T) {
	clearOTEL(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "console")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50") // the SDK's own variable: export soon
	s := &devStack{gateway: testaddr.Get(t), kafka: testaddr.Get(t), registry: testaddr.Get(t), admin: testaddr.Get(t), log: new(lockedBuffer)}
	var stdout lockedBuffer
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"dev", "--gateway-addr", s.gateway, "--kafka-addr", s.kafka, "--registry-addr", s.registry, "--admin-addr", s.admin, "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, &stdout, s.log)
	}()
	// Generous: a loaded CI machine can take long to migrate and register.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + s.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case code := <-done:
			t.Fatalf("dev exited %d before it was ready:\n%s", code, devLog(s.log))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev never became ready:\n%s", devLog(s.log))
		}
		time.Sleep(100 * time.Millisecond)
	}

	const eventID = "7c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e"
	if code, _, errOut := cli(t, "publish", "--gateway-addr", s.gateway, "--event-id", eventID, "cairn.hunt.v1.PlayerRegistered",
		`{"playerId": "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}`); code != 0 {
		t.Fatalf("publish: exit %d: %s", code, errOut)
	}
	var publish, apply consoleSpan
	waitFor(t, "the publish and the hunt worker's apply on the console", func() bool {
		var pubOK, applyOK bool
		for _, sp := range consoleSpans(t, devLog(&stdout)) {
			switch {
			case sp.Name == "cairn.player.events publish" && sp.attr("messaging.message.id") == eventID:
				publish, pubOK = sp, true
			case sp.Name == "cairn.player.events process" && sp.attr("messaging.message.id") == eventID && sp.attr("messaging.consumer.group.name") == "cairn-dev":
				apply, applyOK = sp, true
			}
		}
		return pubOK && applyOK
	})
	if apply.SpanContext.TraceID != publish.SpanContext.TraceID || apply.Parent.SpanID != publish.SpanContext.SpanID {
		t.Errorf("apply span %s under %s, want in trace %s under the publish span %s", apply.SpanContext.TraceID, apply.Parent.SpanID, publish.SpanContext.TraceID, publish.SpanContext.SpanID)
	}
	if publish.service() != "cairn-dev" || apply.service() != "cairn-dev" {
		t.Errorf("service.name %q and %q, want cairn-dev", publish.service(), apply.service())
	}
	stop()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("dev exited %d:\n%s", code, devLog(s.log))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("dev did not stop")
	}
}
