package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/testaddr"
)

// TestBenchModes runs each mode of cairn bench for a few events against
// cairn dev, with --direct where it applies, and checks the table's counts:
// every event sent was accepted (and, in e2e, judged), none failed.
func TestBenchModes(t *testing.T) {
	gatewayAddr, kafkaAddr := testaddr.Get(t), testaddr.Get(t)
	ctx, stop := context.WithCancel(t.Context())
	var devErr lockedBuffer
	devDone := make(chan int, 1)
	go func() {
		devDone <- run(ctx, []string{"dev", "--gateway-addr", gatewayAddr, "--kafka-addr", kafkaAddr, "--registry-addr", testaddr.Get(t), "--admin-addr", testaddr.Get(t),
			"--database-url", "sqlite:" + filepath.Join(t.TempDir(), "dev.db"), "--log-level", "warn"}, new(bytes.Buffer), &devErr)
	}()
	defer func() {
		stop()
		if code := <-devDone; code != 0 {
			t.Errorf("dev exited %d:\n%s", code, devLog(&devErr))
		}
	}()
	common := []string{"bench", "--gateway-addr", gatewayAddr, "--kafka-brokers", kafkaAddr, "--connections", "2"}
	// Wait for dev: bench refuses to run until the gateway answers. On a
	// loaded machine, with the race detector, dev may take a while to start.
	deadline := time.Now().Add(90 * time.Second)
	for {
		var out, errOut bytes.Buffer
		if run(t.Context(), append(common, "--events", "1", "--concurrency", "1", "publish"), &out, &errOut) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bench never ran: %s\n%s", errOut.String(), devLog(&devErr))
		}
		time.Sleep(200 * time.Millisecond)
	}

	tests := []struct {
		args   []string
		events int
		rows   []string
	}{
		{[]string{"--events", "300", "--concurrency", "8", "--direct", "publish"}, 300, []string{"gateway", "direct"}},
		{[]string{"--events", "450", "--concurrency", "2", "--batch-size", "100", "--direct", "batch"}, 450, []string{"gateway", "direct"}},
		{[]string{"--events", "500", "--concurrency", "2", "--window", "50", "--direct", "stream"}, 500, []string{"gateway", "direct"}},
		{[]string{"--events", "120", "--rate", "200", "--concurrency", "4", "--players", "7", "e2e"}, 120, []string{"gateway", "judged"}},
		// HuntService by another address: connections of its own.
		{[]string{"--hunt-addr", strings.Replace(gatewayAddr, "127.0.0.1", "localhost", 1), "--events", "60", "--rate", "200", "--concurrency", "2", "--players", "3", "e2e"}, 60, []string{"gateway", "judged"}},
	}
	for _, tt := range tests {
		mode := tt.args[len(tt.args)-1]
		t.Run(mode, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := run(t.Context(), append(common, tt.args...), &out, &errOut); code != 0 {
				t.Fatalf("exit %d: %s", code, errOut.String())
			}
			table := out.String()
			rows := tableRows(table)
			for _, path := range tt.rows {
				row, ok := rows[path]
				if !ok {
					t.Fatalf("no %s row in:\n%s", path, table)
				}
				if row.sent != tt.events || row.accepted != tt.events || row.errors != 0 {
					t.Errorf("%s row: sent %d, accepted %d, errors %d; want %d, %d, 0:\n%s", path, row.sent, row.accepted, row.errors, tt.events, tt.events, table)
				}
			}
			if len(rows) != len(tt.rows) {
				t.Errorf("table has %d rows, want %v:\n%s", len(rows), tt.rows, table)
			}
			if strings.Contains(table, "errors:") {
				t.Errorf("table lists errors:\n%s", table)
			}
			if wantRatio := slices.Contains(tt.args, "--direct"); strings.Contains(table, "ratio gateway/direct: ") != wantRatio {
				t.Errorf("ratio printed: %v, want %v:\n%s", !wantRatio, wantRatio, table)
			}
		})
	}
	t.Run("Kafka for --direct unreachable", func(t *testing.T) {
		var out, errOut bytes.Buffer
		nowhere := testaddr.Get(t)
		// A long run, refused before it starts: not after the gateway's half.
		code := run(t.Context(), append(common, "--kafka-brokers", nowhere, "--duration", "10m", "--direct", "publish"), &out, &errOut)
		if want := "direct: kafka unreachable at " + nowhere; code != 1 || !strings.Contains(errOut.String(), want) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut.String(), want)
		}
		if out.Len() > 0 {
			t.Errorf("printed a table:\n%s", out.String())
		}
	})
	t.Run("HuntService unreachable", func(t *testing.T) {
		var out, errOut bytes.Buffer
		nowhere := testaddr.Get(t)
		code := run(t.Context(), append(common, "--hunt-addr", nowhere, "--events", "10", "e2e"), &out, &errOut)
		if want := "HuntService unreachable at " + nowhere; code != 1 || !strings.Contains(errOut.String(), want) {
			t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut.String(), want)
		}
	})
}

type benchRow struct{ sent, accepted, errors int }

// tableRows reads the counts of each row of cairn bench's table, by path.
func tableRows(table string) map[string]benchRow {
	rows := make(map[string]benchRow)
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) != 10 || f[0] == "path" {
			continue
		}
		var r benchRow
		var err error
		for i, p := range []*int{&r.sent, &r.accepted, &r.errors} {
			if *p, err = strconv.Atoi(f[i+1]); err != nil {
				break
			}
		}
		if err == nil {
			rows[f[0]] = r
		}
	}
	return rows
}

func TestBenchUnreachableGateway(t *testing.T) {
	addr := testaddr.Get(t) // nothing listens there now
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"bench", "--gateway-addr", addr, "--events", "10", "publish"}, &out, &errOut)
	want := "gateway unreachable at " + addr + " (is `cairn dev` running?)"
	if code != 1 || !strings.Contains(errOut.String(), want) {
		t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut.String(), want)
	}
	if out.Len() != 0 {
		t.Errorf("printed a table against no gateway: %q", out.String())
	}
}

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"bench"}, "want one mode of publish, batch, stream, e2e"},
		{[]string{"bench", "sideways"}, `mode "sideways"`},
		{[]string{"bench", "--direct", "e2e"}, "direct: e2e measures"},
		{[]string{"bench", "--events", "5", "--duration", "1s", "publish"}, "not both"},
		{[]string{"bench", "--window", "-1", "stream"}, "window -1: want at least 1"},
		{[]string{"bench", "--gateway-addr", "nowhere", "publish"}, `--gateway-addr "nowhere": want host:port`},
		{[]string{"bench", "--hunt-addr", "nowhere", "e2e"}, `--hunt-addr "nowhere": want host:port`},
		{[]string{"bench", "--hunt-addr", "127.0.0.1:1", "publish"}, "hunt address: only e2e watches HuntService, not publish"},
	}
	nowhere := testaddr.Get(t) // were a check missed, the bench would find no gateway
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		args := tt.args
		if !slices.Contains(args, "--gateway-addr") {
			args = append([]string{"bench", "--gateway-addr", nowhere}, args[1:]...)
		}
		if code := run(t.Context(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want 2 and %q", tt.args, code, errOut.String(), tt.want)
		}
	}
}
