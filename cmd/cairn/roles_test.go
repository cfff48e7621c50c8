package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/internal/testaddr"
	"github.com/cairnhq/cairn/workers"
)

// huntBroker starts a dev broker holding the hunt schemas' topics and the
// dead-letter topic, with partitions each, closed when the test ends.
func huntBroker(t *testing.T, partitions int32) *devbroker.Broker {
	t.Helper()
	files, err := schemas.Hunt()
	if err != nil {
		t.Fatal(err)
	}
	broker, err := devbroker.Start("127.0.0.1:0", partitions, append(schemas.Topics(files), workers.DefaultDeadLetterTopic)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	return broker
}

// serviceAuthFile writes an auth file in dir giving one API key, named
// name, the service role, which may publish every type; it returns the
// file's path.
func serviceAuthFile(t *testing.T, dir, name, key string) string {
	t.Helper()
	path := filepath.Join(dir, "auth.json")
	body := fmt.Sprintf(`{"api_keys": [{"name": %q, "key": %q, "role": "service"}], "roles": {"service": ["*"]}}`, name, key)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestProductionRoles runs each role on its own, as production does:
// cairn registry, cairn schema push, cairn gateway and cairn worker against
// a Kafka-protocol broker, then a hunt event published through the gateway
// is applied by the worker and read back from its HuntService.
func TestProductionRoles(t *testing.T) {
	broker := huntBroker(t, 2)
	dir := t.TempDir()
	registryAddr, gatewayAddr, workerAddr := testaddr.Get(t), testaddr.Get(t), testaddr.Get(t)
	authFile := serviceAuthFile(t, dir, "organiser", "organiser-key-0123456789")

	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	roles := map[string][]string{
		"registry": {"registry", "--registry-addr", registryAddr, "--admin-addr", testaddr.Get(t), "--database-url", "sqlite:" + filepath.Join(dir, "registry.db")},
		"gateway":  {"gateway", "--gateway-addr", gatewayAddr, "--admin-addr", testaddr.Get(t), "--kafka-brokers", broker.Addr(), "--registry-addr", registryAddr, "--auth-file", authFile},
		"worker":   {"worker", "--grpc-addr", workerAddr, "--admin-addr", testaddr.Get(t), "--kafka-brokers", broker.Addr(), "--registry-addr", registryAddr, "--database-url", "sqlite:" + filepath.Join(dir, "worker.db"), "--auth-file", authFile},
	}
	logs := make(map[string]*lockedBuffer)
	done := make(map[string]chan int)
	start := func(name string) {
		log, ch := new(lockedBuffer), make(chan int, 1)
		logs[name], done[name] = log, ch
		go func() { ch <- run(ctx, roles[name], new(bytes.Buffer), log) }()
	}
	defer func() {
		if t.Failed() {
			for name, log := range logs {
				t.Logf("%s:\n%s", name, devLog(log))
			}
		}
	}()
	retry := func(what string, args ...string) string {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			var out, errOut bytes.Buffer
			if run(t.Context(), args, &out, &errOut) == 0 {
				return out.String()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never succeeded: %s", what, errOut.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	start("registry")
	retry("schema push", "schema", "push", "--registry-addr", registryAddr)
	start("gateway")
	start("worker")

	const hunt = "9b2f4a8e-3c1d-4e5f-8a7b-6c5d4e3f2a1b"
	retry("publish", "publish", "--gateway-addr", gatewayAddr, "--api-key", "organiser-key-0123456789", "cairn.hunt.v1.HuntCreated",
		`{"huntId":"`+hunt+`","title":"Old town","clues":[{"clueId":"11111111-1111-4111-8111-111111111111","text":"What is the fountain made of?","points":10,"answerSha256":"rH2vKP1r/HpcPkuDx/yf1R+S3f8QvchI+ZQX7Kb6/Hw="}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z"}`)
	got := retry("hunt get", "hunt", "--gateway-addr", workerAddr, "--api-key", "organiser-key-0123456789", "get", hunt)
	if !strings.Contains(got, "Old town") {
		t.Errorf("hunt get = %s", got)
	}
	// The dev key means nothing here.
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"publish", "--gateway-addr", gatewayAddr, "cairn.hunt.v1.HuntCreated", "{}"}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "Unauthenticated") {
		t.Errorf("publish with the dev key: exit %d, %s", code, errOut.String())
	}

	stop()
	for name, ch := range done {
		select {
		case code := <-ch:
			if code != 0 {
				t.Errorf("%s exited %d:\n%s", name, code, devLog(logs[name]))
			}
		case <-time.After(40 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	}
}

// listening waits until a role's log says where its component name
// listens, and returns that address: roles started on port 0 say it once.
func listening(t *testing.T, log *lockedBuffer, name string) string {
	t.Helper()
	re := regexp.MustCompile(`msg="` + regexp.QuoteMeta(name) + ` listening on ([^"\s]+)"`)
	deadline := time.Now().Add(time.Minute)
	for {
		if m := re.FindStringSubmatch(devLog(log)); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never said where it listens:\n%s", name, devLog(log))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// get fetches an admin page and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// TestRoleConsoles: each standalone role, started on port 0, serves the
// console on its admin address with what it knows, and says what it does
// not know instead of failing.
func TestRoleConsoles(t *testing.T) {
	broker := huntBroker(t, 1)
	dir := t.TempDir()
	authFile := serviceAuthFile(t, dir, "ops", "ops-key-0123456789abcdef")
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	logs := make(map[string]*lockedBuffer)
	done := make(map[string]chan int)
	start := func(name string, args ...string) {
		log, ch := new(lockedBuffer), make(chan int, 1)
		logs[name], done[name] = log, ch
		go func() { ch <- run(ctx, append([]string{name}, args...), io.Discard, log) }()
	}
	defer func() {
		stop()
		for name, ch := range done {
			select {
			case code := <-ch:
				if code != 0 {
					t.Errorf("%s exited %d:\n%s", name, code, devLog(logs[name]))
				}
			case <-time.After(40 * time.Second):
				t.Errorf("%s did not stop", name)
			}
		}
	}()

	start("registry", "--registry-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--database-url", "sqlite:"+filepath.Join(dir, "registry.db"))
	registryAddr := listening(t, logs["registry"], "registry")
	if code, _, errOut := cli(t, "schema", "push", "--registry-addr", registryAddr, "--timeout", "3m"); code != 0 {
		t.Fatalf("schema push: exit %d: %s", code, errOut)
	}
	start("gateway", "--gateway-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--kafka-brokers", broker.Addr(), "--registry-addr", registryAddr, "--auth-file", authFile)
	start("worker", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--kafka-brokers", broker.Addr(), "--registry-addr", registryAddr, "--database-url", "sqlite:"+filepath.Join(dir, "worker.db"), "--auth-file", authFile)

	for _, tt := range []struct {
		role   string
		path   string
		status int
		want   []string
	}{
		{"registry", "/", 200, []string{"cairn registry", "Pipeline", "database"}},
		{"registry", "/subjects/cairn.hunt.v1.HuntCreated", 200, []string{"message HuntCreated", "BACKWARD"}},
		{"registry", "/deadletters", 404, []string{"This process does not read Kafka."}},
		{"gateway", "/", 200, []string{"cairn gateway", "gateway", "registry", "kafka", "No consumer group to show."}},
		{"gateway", "/subjects", 200, []string{"cairn.hunt.v1.AnswerSubmitted"}},
		{"gateway", "/subjects/cairn.hunt.v1.HuntCreated?version=1", 200, []string{"message HuntCreated"}},
		{"gateway", "/subjects/cairn.hunt.v1.Nope", 404, []string{"no subject"}},
		{"gateway", "/deadletters", 200, []string{"Dead letters"}},
		{"worker", "/", 200, []string{"cairn worker", "Consumer lag of group cairn-workers"}},
		{"worker", "/subjects", 200, []string{"cairn.hunt.v1.HuntCreated"}},
	} {
		base := "http://" + listening(t, logs[tt.role], "admin")
		code, body := get(t, base+tt.path)
		if code != tt.status {
			t.Errorf("%s GET %s = %d, want %d:\n%.600s", tt.role, tt.path, code, tt.status, body)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s GET %s lacks %q:\n%.1500s", tt.role, tt.path, w, body)
			}
		}
	}
}

// TestWatchReconnects: cairn hunt watch outlives its worker. When the
// worker stops, watch says on stderr that it is reconnecting; once the
// worker is back it catches up with the player's progress and goes on
// printing events.
func TestWatchReconnects(t *testing.T) {
	broker := huntBroker(t, 1)
	dir := t.TempDir()
	const key = "organiser-key-0123456789"
	authFile := serviceAuthFile(t, dir, "organiser", key)
	ctx, stop := context.WithCancel(t.Context())
	defer stop()
	type proc struct {
		log  *lockedBuffer
		stop context.CancelFunc
		done chan int
	}
	var procs []*proc
	start := func(args ...string) *proc {
		pctx, pstop := context.WithCancel(ctx)
		p := &proc{log: new(lockedBuffer), stop: pstop, done: make(chan int, 1)}
		procs = append(procs, p)
		go func() { p.done <- run(pctx, args, io.Discard, p.log) }()
		return p
	}
	wait := func(p *proc) {
		t.Helper()
		p.stop()
		select {
		case code := <-p.done:
			p.done <- code // for the deferred wait
			if code != 0 {
				t.Errorf("process exited %d:\n%s", code, devLog(p.log))
			}
		case <-time.After(40 * time.Second):
			t.Errorf("process did not stop:\n%s", devLog(p.log))
		}
	}
	defer func() {
		stop()
		for _, p := range procs {
			<-p.done
		}
	}()

	reg := start("registry", "--registry-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--database-url", "sqlite:"+filepath.Join(dir, "registry.db"))
	registryAddr := listening(t, reg.log, "registry")
	if code, _, errOut := cli(t, "schema", "push", "--registry-addr", registryAddr, "--timeout", "3m"); code != 0 {
		t.Fatalf("schema push: exit %d: %s", code, errOut)
	}
	gw := start("gateway", "--gateway-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--kafka-brokers", broker.Addr(), "--registry-addr", registryAddr, "--auth-file", authFile)
	gatewayAddr := listening(t, gw.log, "gateway")
	workerAddr := testaddr.Get(t) // the restarted worker comes back on it
	workerArgs := []string{"worker", "--grpc-addr", workerAddr, "--admin-addr", "127.0.0.1:0", "--kafka-brokers", broker.Addr(), "--registry-addr", registryAddr, "--database-url", "sqlite:" + filepath.Join(dir, "worker.db"), "--auth-file", authFile}
	worker := start(workerArgs...)
	listening(t, worker.log, "HuntService")

	const (
		hunt   = "9b2f4a8e-3c1d-4e5f-8a7b-6c5d4e3f2a1b"
		player = "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01"
		clue   = "11111111-1111-4111-8111-111111111111"
	)
	publish := func(typ, body string) {
		t.Helper()
		if code, _, errOut := cli(t, "publish", typ, body, "--gateway-addr", gatewayAddr, "--api-key", key); code != 0 {
			t.Fatalf("publish %s: exit %d: %s", typ, code, errOut)
		}
	}
	var answered time.Time
	answer := func() { // at most once a second
		if time.Since(answered) < time.Second {
			return
		}
		answered = time.Now()
		publish("cairn.hunt.v1.AnswerSubmitted", `{"huntId":"`+hunt+`","playerId":"`+player+`","clueId":"`+clue+`","text":"marble","submittedAt":"2026-11-21T10:04:00Z"}`)
	}
	publish("cairn.hunt.v1.HuntCreated", `{"huntId":"`+hunt+`","title":"Old town","clues":[{"clueId":"`+clue+`","text":"What is the fountain made of?","points":10,"answerSha256":"rH2vKP1r/HpcPkuDx/yf1R+S3f8QvchI+ZQX7Kb6/Hw="}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z"}`)
	publish("cairn.hunt.v1.PlayerJoinedHunt", `{"huntId":"`+hunt+`","playerId":"`+player+`","joinedAt":"2026-11-21T10:00:00Z"}`)

	var out, errOut lockedBuffer
	defer func() {
		if t.Failed() {
			t.Logf("watch stdout:\n%s\nwatch stderr:\n%s", devLog(&out), devLog(&errOut))
			for _, p := range procs {
				t.Logf("log:\n%s", devLog(p.log))
			}
		}
	}()
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	watchDone := make(chan int, 1)
	go func() {
		watchDone <- run(watchCtx, []string{"hunt", "watch", player, hunt, "--gateway-addr", workerAddr, "--api-key", key}, &out, &errOut)
	}()
	// The watch sees only what happens once it is subscribed: answer until
	// it shows something.
	waitUntil(t, "the watch shows an event", time.Minute, func() bool {
		if devLog(&out) != "" {
			return true
		}
		answer()
		return false
	})

	wait(worker)
	waitUntil(t, "the watch says it reconnects", time.Minute, func() bool {
		return strings.Contains(devLog(&errOut), "reconnecting in")
	})
	start(workerArgs...)
	waitUntil(t, "the watch catches up", time.Minute, func() bool {
		return strings.Contains(devLog(&out), `{"progress":`)
	})
	before := strings.Count(devLog(&out), "\n")
	waitUntil(t, "the watch shows events again", time.Minute, func() bool {
		if strings.Count(devLog(&out), "\n") > before {
			return true
		}
		answer()
		return false
	})
	stopWatch()
	if code := <-watchDone; code != 0 {
		t.Errorf("watch exited %d: %s", code, devLog(&errOut))
	}
	for _, w := range []string{"the stream ended: Unavailable", "reconnecting in", "reconnected; the player's progress follows"} {
		if !strings.Contains(devLog(&errOut), w) {
			t.Errorf("watch's stderr lacks %q:\n%s", w, devLog(&errOut))
		}
	}
	if !strings.Contains(devLog(&out), `"playerId":"`+player+`"`) {
		t.Errorf("the catch-up line lacks the player:\n%s", devLog(&out))
	}
}
