package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/testaddr"
)

// TestMetricsAtStartUp starts each production role and scrapes its
// /metrics before any event has been sent: every series the README
// documents is there already, with its known label sets, beside
// cairn_build_info and the gRPC request metrics of the services it serves.
func TestMetricsAtStartUp(t *testing.T) {
	broker := huntBroker(t, 1)
	dir := t.TempDir()
	authFile := serviceAuthFile(t, dir, "ops", "ops-key-0123456789")
	registryAddr := testaddr.Get(t)
	admins := map[string]string{"registry": testaddr.Get(t), "gateway": testaddr.Get(t), "worker": testaddr.Get(t)}
	roles := map[string][]string{
		"registry": {"registry", "--registry-addr", registryAddr, "--admin-addr", admins["registry"], "--database-url", "sqlite:" + filepath.Join(dir, "registry.db")},
		"gateway":  {"gateway", "--gateway-addr", testaddr.Get(t), "--admin-addr", admins["gateway"], "--kafka-brokers", broker.Addr(), "--registry-addr", registryAddr, "--auth-file", authFile},
		"worker":   {"worker", "--grpc-addr", testaddr.Get(t), "--admin-addr", admins["worker"], "--kafka-brokers", broker.Addr(), "--registry-addr", registryAddr, "--database-url", "sqlite:" + filepath.Join(dir, "worker.db"), "--auth-file", authFile},
	}
	want := map[string][]string{
		"registry": {
			`cairn_build_info{go_version="go`,
			`cairn_grpc_server_requests_total{code="OK",method="GetSchema",service="cairn.registry.v1.RegistryService"}`,
			`cairn_grpc_server_request_duration_seconds_count{method="GetSchema",service="cairn.registry.v1.RegistryService"}`,
		},
		"gateway": {
			`cairn_build_info{go_version="go`,
			`cairn_gateway_requests_total{code="OK",method="Publish"} 0`,
			`cairn_gateway_requests_total{code="OK",method="PublishStream"} 0`,
			`cairn_gateway_produce_duration_seconds_count 0`,
			`cairn_gateway_inflight_bytes 0`,
			`cairn_gateway_degraded_types 0`,
		},
		"worker": {
			`cairn_build_info{go_version="go`,
			`cairn_worker_events_applied_total{group="cairn-workers",topic="cairn.hunt.events"} 0`,
			`cairn_worker_duplicates_skipped_total{group="cairn-workers",topic="cairn.hunt.events"} 0`,
			`cairn_worker_dead_lettered_total{group="cairn-workers",reason="undecodable",topic="cairn.hunt.events"} 0`,
			`cairn_worker_dead_lettered_total{group="cairn-workers",reason="unknown_schema",topic="cairn.hunt.events"} 0`,
			`cairn_worker_transient_failures_total{group="cairn-workers",topic="cairn.hunt.events"} 0`,
			`cairn_worker_batch_duration_seconds_count{group="cairn-workers"} 0`,
			`cairn_worker_derived_events_produced_total{group="cairn-workers"} 0`,
			`cairn_grpc_server_requests_total{code="OK",method="WatchPlayer",service="cairn.hunt.v1.HuntService"} 0`,
			`cairn_grpc_server_requests_total{code="OK",method="GetHunt",service="cairn.hunt.v1.HuntService"} 0`,
		},
	}

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	var (
		logs = make(map[string]*lockedBuffer)
		done = make(map[string]chan int)
	)
	start := func(name string) {
		log, ch := new(lockedBuffer), make(chan int, 1)
		logs[name], done[name] = log, ch
		go func() { ch <- run(ctx, roles[name], new(bytes.Buffer), log) }()
	}
	defer func() {
		stop()
		for name, ch := range done {
			if code := <-ch; code != 0 || t.Failed() {
				t.Logf("cairn %s exited %d:\n%s", name, code, devLog(logs[name]))
			}
		}
	}()
	start("registry")
	eventually(t, "schema push", func() error {
		var out bytes.Buffer
		if run(t.Context(), []string{"schema", "push", "--registry-addr", registryAddr}, &out, &out) != 0 {
			return errorString(out.String())
		}
		return nil
	})
	start("gateway")
	start("worker")
	for role, lines := range want {
		var body string
		eventually(t, role+" /metrics", func() error {
			resp, err := http.Get("http://" + admins[role] + "/metrics")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				return err
			}
			body = string(b)
			return nil
		})
		for _, line := range lines {
			if !strings.Contains(body, line) {
				t.Errorf("%s /metrics at start-up lacks %s", role, line)
			}
		}
		for _, l := range strings.Split(body, "\n") {
			if strings.HasPrefix(l, "cairn_") && strings.Contains(l[:strings.LastIndexByte(l, ' ')], " ") {
				t.Errorf("%s: a label value with a space: %s", role, l)
			}
		}
	}
}

type errorString string

func (e errorString) Error() string { return string(e) }

// eventually retries f for up to 30 seconds.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never succeeded: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestVersion checks what `cairn version` and `cairn --version` print.
func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), args, &out, &errOut); code != 0 {
			t.Fatalf("cairn %s: exit %d: %s", args[0], code, errOut.String())
		}
		got := out.String()
		if !strings.HasPrefix(got, "cairn ") || !strings.Contains(got, "(revision ") || !strings.Contains(got, ", go1.") || strings.Count(got, "\n") != 1 {
			t.Errorf("cairn %s printed %q, want one line: cairn VERSION (revision REV, GOVERSION)", args[0], got)
		}
	}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"version", "extra"}, &out, &errOut); code != 2 {
		t.Errorf("cairn version extra: exit %d, want 2", code)
	}
}
