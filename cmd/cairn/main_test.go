package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/testaddr"
)

// TestDevThenPublish runs the README's first session: cairn dev, then cairn
// publish of a valid and of an invalid event, then Ctrl-C.
func TestDevThenPublish(t *testing.T) {
	gatewayAddr, kafkaAddr, registryAddr, adminAddr := testaddr.Get(t), testaddr.Get(t), testaddr.Get(t), testaddr.Get(t)
	ctx, stop := context.WithCancel(t.Context())
	var devErr lockedBuffer
	devDone := make(chan int, 1)
	go func() {
		devDone <- run(ctx, []string{"dev", "--gateway-addr", gatewayAddr, "--kafka-addr", kafkaAddr, "--registry-addr", registryAddr, "--admin-addr", adminAddr, "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, new(bytes.Buffer), &devErr)
	}()

	body := `{"playerId": "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}`
	var out, errOut bytes.Buffer
	// Generous: under the race detector on a busy machine, dev compiles
	// and registers every schema before its gateway listens.
	deadline := time.Now().Add(90 * time.Second)
	for {
		out.Reset()
		errOut.Reset()
		code := run(t.Context(), []string{"publish", "--gateway-addr", gatewayAddr, "--timeout", "2s", "cairn.hunt.v1.PlayerRegistered", body}, &out, &errOut)
		if code == 0 {
			break
		}
		select {
		case code := <-devDone:
			t.Fatalf("cairn dev exited with %d before a publish succeeded:\n%s", code, devLog(&devErr))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish never succeeded: exit %d: %s\ncairn dev:\n%s", code, errOut.String(), devLog(&devErr))
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

	playHunt(t, gatewayAddr)

	// The admin address reports readiness and the metrics of both.
	for path, want := range map[string]string{"/readyz": "ready", "/healthz": "ok", "/metrics": "cairn_gateway_events_total"} {
		resp, err := http.Get("http://" + adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d %.200s, want 200 with %q", path, resp.StatusCode, body, want)
		}
	}
	// A player's token lets them act as themselves only.
	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), []string{"token", "7c9e6679-7425-40de-944b-e07fc1f90ae7"}, &out, &errOut); code != 0 {
		t.Fatalf("token: exit %d: %s", code, errOut.String())
	}
	token := strings.TrimSpace(out.String())
	out.Reset()
	if code := run(t.Context(), []string{"publish", "--gateway-addr", gatewayAddr, "--token", token, "cairn.hunt.v1.PlayerRegistered", body}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "PermissionDenied") {
		t.Errorf("publish as another player: exit %d, %s", code, errOut.String())
	}
	// HuntService on the gateway's port: a player may ask only about
	// themselves, and nobody without credentials.
	const hunt, ada = "9b2f4a8e-3c1d-4e5f-8a7b-6c5d4e3f2a1b", "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01"
	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), []string{"hunt", "--gateway-addr", gatewayAddr, "--token", token, "progress", hunt, ada}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "PermissionDenied") {
		t.Errorf("progress of another player: exit %d, %s", code, errOut.String())
	}
	errOut.Reset()
	if code := run(t.Context(), []string{"hunt", "--gateway-addr", gatewayAddr, "--api-key", "not-a-key", "get", hunt}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "Unauthenticated") {
		t.Errorf("hunt get with a key nobody issued: exit %d, %s", code, errOut.String())
	}
	// A publish without the dev key is refused.
	out.Reset()
	errOut.Reset()
	if code := run(t.Context(), []string{"publish", "--gateway-addr", gatewayAddr, "--api-key", "wrong", "cairn.hunt.v1.PlayerRegistered", body}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "Unauthenticated") {
		t.Errorf("publish with a wrong key: exit %d, %s", code, errOut.String())
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
		{[]string{"hunt"}, nil, 2, "want one of"},
		{[]string{"publish", "--token", "", "cairn.hunt.v1.PlayerRegistered", "{}"}, nil, 2, "--token is empty"},
		{[]string{"publish", "--api-key=", "cairn.hunt.v1.PlayerRegistered", "{}"}, nil, 2, "--api-key is empty"},
		{[]string{"hunt", "--token", "", "get", "x"}, nil, 2, "--token is empty"},
		{[]string{"token"}, nil, 2, "want PLAYER"},
		{[]string{"gateway"}, nil, 2, "--kafka-brokers: required"},
		{[]string{"gateway", "--kafka-brokers", "k:9092"}, nil, 2, "--auth-file: required"},
		{[]string{"gateway", "--kafka-brokers", "k:9092", "--auth-file", "/nonexistent.json"}, nil, 2, "no such file"},
		{[]string{"gateway", "--kafka-brokers", "k:9092", "--auth-file", "x", "--tls-cert", "c.pem"}, nil, 2, "--tls-cert and --tls-key go together"},
		{[]string{"worker", "--kafka-brokers", "k:9092"}, nil, 2, "--database-url: required"},
		{[]string{"worker", "--kafka-brokers", "k:9092", "--database-url", "sqlite:x.db"}, nil, 2, "--auth-file: required"},
		{[]string{"worker", "--offset-policy", "sideways"}, nil, 2, `offset policy "sideways"`},
		{[]string{"worker", "--cached-entrants", "-1"}, nil, 2, "--cached-entrants: -1 is negative"},
		{[]string{"worker", "--applied-retention", "-1h"}, nil, 2, "--applied-retention: -1h0m0s; want 0 (for good) or at least a minute"},
		{[]string{"worker", "--applied-retention", "30s"}, nil, 2, "--applied-retention: 30s; want 0 (for good) or at least a minute"},
		{[]string{"schema"}, nil, 2, "want a subcommand: check, push or deps"},
		{[]string{"schema", "push", "--registry-addr", "nowhere"}, nil, 2, "want host:port"},
		{[]string{"token", "ada"}, nil, 2, `PLAYER "ada" is not a UUID`},
		{[]string{"hunt", "progress", "only-one"}, nil, 2, "want one of"},
		{[]string{"hunt", "--timeout", "1s", "get", "not-a-uuid"}, nil, 1, "cairn hunt: "},
		{[]string{"registry", "--protect-reads"}, nil, 2, "--protect-reads needs --credentials-file"},
		{[]string{"registry", "--credentials-file", "/nonexistent.json"}, nil, 2, "no such file"},
		// Flags may follow the arguments; "--" ends them.
		{[]string{"publish", "cairn.hunt.v1.PlayerRegistered", "{}", "--header", "novalue"}, nil, 2, "want NAME=VALUE"},
		{[]string{"publish", "--", "cairn.hunt.v1.PlayerRegistered", "{}", "--event-id"}, nil, 2, "want TYPE and JSON, got 3 arguments"},
		{[]string{"hunt", "hash", "granite", "--limit", "x"}, nil, 2, `invalid value "x" for flag -limit`},
		{[]string{"dev", "--bogus"}, nil, 2, "flag provided but not defined: -bogus\nRun 'cairn dev --help' for usage."},
		{[]string{"schema", "list"}, nil, 2, `unknown subcommand "list": want check, push or deps`},
		{[]string{"worker", "--database-url", "mysql://cairn:hunter2@db/cairn"}, nil, 2, `--database-url: unsupported database URL scheme "mysql"; want postgres://… or postgresql://… (PostgreSQL), sqlite:PATH, file:PATH or a plain file path (SQLite)`},
		{[]string{"registry", "--database-url", "mysql://cairn:hunter2@db/cairn"}, nil, 2, `unsupported database URL scheme "mysql"`},
		{[]string{"dev", "--database-url", "mysql://cairn:hunter2@db/cairn"}, nil, 2, `unsupported database URL scheme "mysql"`},
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

// TestUnreachable: a gateway or registry that is not running is said to
// be unreachable at its address, with a hint, by every command that dials
// one; the flags after the arguments are read.
func TestUnreachable(t *testing.T) {
	addr := testaddr.Get(t) // nothing listens there now
	const player = "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01"
	body := `{"playerId": "` + player + `", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}`
	gateway := "gateway unreachable at " + addr + " (is `cairn dev` running?)"
	registry := "registry unreachable at " + addr + " (is `cairn dev` running?)"
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"publish", "cairn.hunt.v1.PlayerRegistered", body, "--event-id", "e7a1c2d4-0000-4000-8000-000000000001", "--gateway-addr", addr, "--timeout", "2s"}, 1, gateway},
		{[]string{"hunt", "progress", "9b2f4a8e-3c1d-4e5f-8a7b-6c5d4e3f2a1b", player, "--gateway-addr", addr, "--timeout", "2s"}, 1, gateway},
		{[]string{"hunt", "watch", player, "--gateway-addr", addr}, 1, gateway},
		{[]string{"bench", "--gateway-addr", addr, "--events", "10", "publish"}, 1, gateway},
		{[]string{"schema", "push", "--registry-addr", addr}, 2, registry},
		{[]string{"schema", "check", "../../examples/schema-repo", "--registry-addr", addr}, 2, registry},
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), tt.args, &out, &errOut)
		if code != tt.code || !strings.Contains(errOut.String(), tt.want) || strings.Contains(errOut.String(), "connection error") {
			t.Errorf("%s: exit %d, stderr %q; want %d and %q", tt.args[0], code, errOut.String(), tt.code, tt.want)
		}
	}
}

// TestNoSecretEchoed: however the command line is wrong, an error never
// repeats it, and so never a token or key given on it.
func TestNoSecretEchoed(t *testing.T) {
	const jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2VjcmV0LXNpZ25hdHVyZQ"
	for _, args := range [][]string{
		{"hunt", "get", "a", "b", "--token", jwt},
		{"hunt", "--token", jwt, "progress", "only-one"},
		{"hunt", "get", "a", "b", jwt},
		{"dev", "--log-level", "info", jwt},
		{"gateway", "--kafka-brokers", "k:9092", "--auth-file", "x", jwt},
		{"dlq", "list", "--api-key", jwt, jwt},
		{"publish", "cairn.hunt.v1.PlayerRegistered", "{}", "extra", "--token", jwt},
		{"publish", "--token", jwt, "cairn.hunt.v1.PlayerRegistered"},
		{"bench", "--token", jwt, "publish", jwt},
		{"token", "ada", "--token", jwt},
	} {
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, &out, &errOut)
		if code != 2 {
			t.Errorf("%s: exit %d, want 2; stderr %q", args[0], code, errOut.String())
		}
		if strings.Contains(errOut.String()+out.String(), jwt) || strings.Contains(errOut.String(), "c2VjcmV0") {
			t.Errorf("%s echoed the token: %q", args[0], errOut.String())
		}
	}
}

// TestAnswerHashAsHex: an answerSha256 given in hex is refused before it
// is sent, with what the field holds and how to get it.
func TestAnswerHashAsHex(t *testing.T) {
	sum := sha256.Sum256([]byte("granite"))
	body := `{"huntId":"9b2f4a8e-3c1d-4e5f-8a7b-6c5d4e3f2a1b","title":"Old town","clues":[` +
		`{"clueId":"11111111-1111-4111-8111-111111111111","text":"What is the fountain made of?","points":10,"answerSha256":"` + hex.EncodeToString(sum[:]) + `"}],` +
		`"startsAt":"2026-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z"}`
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"publish", "--gateway-addr", testaddr.Get(t), "cairn.hunt.v1.HuntCreated", body}, &out, &errOut)
	want := "clues[0].answerSha256 holds 48 bytes, not 32: answerSha256 is the base64 of the answer's SHA-256 (32 bytes), not hex: `cairn hunt hash ANSWER` prints it"
	if code != 2 || !strings.Contains(errOut.String(), want) {
		t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut.String(), want)
	}
}

// playHunt plays the README's short hunt through cairn publish and reads
// the result back with cairn hunt, watching the player live.
func playHunt(t *testing.T, gatewayAddr string) {
	t.Helper()
	const (
		hunt   = "9b2f4a8e-3c1d-4e5f-8a7b-6c5d4e3f2a1b"
		player = "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01"
		clue1  = "11111111-1111-4111-8111-111111111111"
		clue2  = "22222222-2222-4222-8222-222222222222"
	)
	cli := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if code := run(t.Context(), append(args[:1:1], append([]string{"--gateway-addr", gatewayAddr}, args[1:]...)...), &out, &errOut); code != 0 {
			t.Fatalf("cairn %s: exit %d: %s", strings.Join(args, " "), code, errOut.String())
		}
		return out.String()
	}
	hash := func(answer string) string {
		var out bytes.Buffer
		if code := run(t.Context(), []string{"hunt", "hash", answer}, &out, new(bytes.Buffer)); code != 0 {
			t.Fatal("hunt hash failed")
		}
		return strings.TrimSpace(out.String())
	}

	watchCtx, stopWatch := context.WithCancel(t.Context())
	defer stopWatch()
	var watched lockedBuffer
	watchDone := make(chan int, 1)
	go func() {
		watchDone <- run(watchCtx, []string{"hunt", "--gateway-addr", gatewayAddr, "watch", player, hunt}, &watched, new(bytes.Buffer))
	}()
	time.Sleep(500 * time.Millisecond) // let the watch subscribe; it only sees what comes after

	cli("publish", "cairn.hunt.v1.HuntCreated", `{"huntId":"`+hunt+`","title":"Old town","clues":[`+
		`{"clueId":"`+clue1+`","text":"What is the fountain made of?","points":10,"answerSha256":"`+hash("granite")+`"},`+
		`{"clueId":"`+clue2+`","text":"Stand under the clock tower","points":20,"target":{"point":{"latitude":48.2082,"longitude":16.3738},"radiusMeters":30}}],`+
		`"startsAt":"2026-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z"}`)
	cli("publish", "cairn.hunt.v1.PlayerJoinedHunt", `{"huntId":"`+hunt+`","playerId":"`+player+`","joinedAt":"2026-11-21T10:00:00Z"}`)
	cli("publish", "cairn.hunt.v1.AnswerSubmitted", `{"huntId":"`+hunt+`","playerId":"`+player+`","clueId":"`+clue1+`","text":"marble","submittedAt":"2026-11-21T10:04:00Z"}`)
	cli("publish", "cairn.hunt.v1.AnswerSubmitted", `{"huntId":"`+hunt+`","playerId":"`+player+`","clueId":"`+clue1+`","text":" Granite ","submittedAt":"2026-11-21T10:05:00Z"}`)
	cli("publish", "cairn.hunt.v1.AnswerSubmitted", `{"huntId":"`+hunt+`","playerId":"`+player+`","clueId":"`+clue2+`","position":{"latitude":48.2083,"longitude":16.3739},"submittedAt":"2026-11-21T10:15:00Z"}`)

	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(devLog(&watched), "huntCompleted") {
		if time.Now().After(deadline) {
			t.Fatalf("watch never saw the completion:\n%s", devLog(&watched))
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopWatch()
	if code := <-watchDone; code != 0 {
		t.Errorf("hunt watch exited %d", code)
	}
	lines := strings.Split(strings.TrimSpace(devLog(&watched)), "\n")
	want := []string{"clueUnlocked", "VERDICT_WRONG", "VERDICT_CORRECT", "clueUnlocked", "VERDICT_CORRECT", "huntCompleted"}
	if len(lines) != len(want) {
		t.Fatalf("watch printed %d events, want %d:\n%s", len(lines), len(want), devLog(&watched))
	}
	for i, w := range want {
		if !strings.Contains(lines[i], w) {
			t.Errorf("watched event %d = %s, want %s", i, lines[i], w)
		}
	}
	board := strings.Join(strings.Fields(cli("hunt", "leaderboard", hunt, player)), "")
	for _, w := range []string{`"rank":1`, `"score":30`, `"completed":true`} {
		if !strings.Contains(board, w) {
			t.Errorf("leaderboard %s lacks %s", board, w)
		}
	}
}
