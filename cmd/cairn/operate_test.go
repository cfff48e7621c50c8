package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sr"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/testaddr"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// devStack is a cairn dev running in the test, on free ports.
type devStack struct {
	gateway, kafka, registry, admin string
	log                             *lockedBuffer
}

// startDev runs cairn dev until the test ends and waits until its gateway
// accepts an event.
func startDev(t *testing.T, flags ...string) *devStack {
	t.Helper()
	s := &devStack{gateway: testaddr.Get(t), kafka: testaddr.Get(t), registry: testaddr.Get(t), admin: testaddr.Get(t), log: new(lockedBuffer)}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"dev", "--gateway-addr", s.gateway, "--kafka-addr", s.kafka, "--registry-addr", s.registry, "--admin-addr", s.admin, "--database-url", "sqlite:" + filepath.Join(t.TempDir(), "dev.db")}, flags...), io.Discard, s.log)
	}()
	t.Cleanup(func() {
		stop()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("dev exited %d:\n%s", code, devLog(s.log))
			}
		case <-time.After(30 * time.Second):
			t.Error("dev did not stop")
		}
	})
	// Generous: a loaded CI machine can take long to migrate and register.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := http.Get("http://" + s.admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev never became ready:\n%s", devLog(s.log))
		}
		select {
		case code := <-done:
			done <- code // the cleanup reports it, with the log
			t.Fatal("dev exited before it was ready")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// cli runs a cairn command and returns its exit code, stdout and stderr.
func cli(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(t.Context(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// produce writes one raw record to a topic, as a client that does not go
// through the gateway would.
func (s *devStack) produce(t *testing.T, topic, key string, value []byte, headers ...kafkax.Header) kafkax.Position {
	t.Helper()
	p, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: s.kafka, Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pos, err := p.Produce(ctx, topic, []byte(key), value, headers)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// publish publishes an event through the gateway with cairn publish.
func (s *devStack) publish(t *testing.T, typ, body string) {
	t.Helper()
	if code, _, errOut := cli(t, "publish", "--gateway-addr", s.gateway, typ, body); code != 0 {
		t.Fatalf("publish %s: exit %d: %s", typ, code, errOut)
	}
}

// metric returns the sum of a metric's series whose labels include want.
func (s *devStack) metric(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			sum += f
		}
	}
	return sum
}

// waitFor polls cond until it holds, or fails the test after a minute.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// registryREST is a Confluent client nobody here wrote, on the registry.
func (s *devStack) registryREST(t *testing.T) *sr.Client {
	t.Helper()
	cl, err := sr.NewClient(sr.URLs("http://" + s.registry))
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// nextSchemaID returns the id the registry will give the next new schema:
// one above the highest it holds.
func (s *devStack) nextSchemaID(t *testing.T) int32 {
	t.Helper()
	cl := s.registryREST(t)
	subjects, err := cl.Subjects(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	highest := 0
	for _, subj := range subjects {
		versions, err := cl.SubjectVersions(t.Context(), subj)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range versions {
			ss, err := cl.SchemaByVersion(t.Context(), subj, v)
			if err != nil {
				t.Fatal(err)
			}
			highest = max(highest, ss.ID)
		}
	}
	return int32(highest + 1)
}

// registerHuntCreatedV2 registers a new version of HuntCreated (one more
// field) and returns its id: the fix for records framed with that id.
func (s *devStack) registerHuntCreatedV2(t *testing.T) int32 {
	t.Helper()
	cl := s.registryREST(t)
	const subject = "cairn.hunt.v1.HuntCreated"
	latest, err := cl.SchemaByVersion(t.Context(), subject, -1)
	if err != nil {
		t.Fatal(err)
	}
	text := latest.Schema.Schema
	end := strings.LastIndex(text, "}")
	text = text[:end] + "  // note is for the organisers.\n  string note = 99;\n" + text[end:]
	got, err := cl.CreateSchema(t.Context(), subject, sr.Schema{Schema: text, Type: sr.TypeProtobuf, References: latest.Schema.References})
	if err != nil {
		t.Fatalf("register a new version of %s: %v", subject, err)
	}
	return int32(got.ID)
}

// poisonHunt produces a HuntCreated framed with a schema id the registry
// does not hold yet, as a producer pointed at another registry would. It
// returns the hunt id.
func (s *devStack) poisonHunt(t *testing.T, schemaID int32, eventID string) string {
	t.Helper()
	const hunt = "3f0c2a9e-6b1d-4c7e-9f2a-8d5e4b3c2a10"
	msg := &huntv1.HuntCreated{
		HuntId: hunt,
		Title:  "Harbour walk",
		Clues: []*huntv1.Clue{{
			ClueId: "44444444-4444-4444-8444-444444444444", Text: "Count the cranes", Points: 5,
			Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: bytes.Repeat([]byte{7}, 32)},
		}},
		StartsAt: timestamppb.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		EndsAt:   timestamppb.New(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
	}
	payload, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	value := wire.Append(nil, wire.Header{SchemaID: schemaID}, payload)
	s.produce(t, "cairn.hunt.events", hunt, value,
		kafkax.Header{Key: "cairn-event-id", Value: []byte(eventID)},
		kafkax.Header{Key: "cairn-event-type", Value: []byte("cairn.hunt.v1.HuntCreated")},
		kafkax.Header{Key: "cairn-principal", Value: []byte("key:dev")},
	)
	return hunt
}

// deadLetters lists the dead letters with cairn dlq list --format json.
func (s *devStack) deadLetters(t *testing.T) []map[string]any {
	t.Helper()
	code, out, errOut := cli(t, "dlq", "list", "--kafka-brokers", s.kafka, "--registry-addr", s.registry, "--format", "json")
	if code != 0 {
		t.Fatalf("dlq list: exit %d: %s", code, errOut)
	}
	var got struct {
		DeadLetters []map[string]any `json:"dead_letters"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("dlq list --format json printed %q: %v", out, err)
	}
	return got.DeadLetters
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", line, err)
		}
		recs = append(recs, m)
	}
	return recs
}

// TestDevWithoutWorkers: --no-workers runs the broker, registry and gateway
// alone, as cairn bench measures the gateway: events are accepted, and no
// worker consumes them.
func TestDevWithoutWorkers(t *testing.T) {
	t.Parallel()
	s := startDev(t, "--no-workers")
	s.publish(t, "cairn.hunt.v1.PlayerRegistered",
		`{"playerId": "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}`)
	resp, err := http.Get("http://" + s.admin + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	health := string(body)
	if i := strings.Index(health, `id="h-health"`); i >= 0 {
		health = health[i:]
		if j := strings.Index(health, "</section>"); j >= 0 {
			health = health[:j]
		}
	}
	if !strings.Contains(health, ">gateway<") || strings.Contains(health, ">worker<") || strings.Contains(health, ">event log<") {
		t.Errorf("the console's health of dev --no-workers lists the workers, or not the gateway:\n%s", health)
	}
	if log := devLog(s.log); strings.Contains(log, "msg=event ") {
		t.Errorf("dev --no-workers logged an event:\n%s", log)
	}
	// No worker follows the hunts, so HuntService is not served: a
	// WatchPlayer would otherwise wait for good, and cairn bench e2e with it.
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"bench", "--gateway-addr", s.gateway, "--events", "10", "--players", "2", "e2e"}, &out, &errOut)
	if want := "HuntService is not served at " + s.gateway; code != 1 || !strings.Contains(errOut.String(), want) {
		t.Errorf("bench e2e against dev --no-workers: exit %d, stderr %q; want 1 and %q\n%s", code, errOut.String(), want, out.String())
	}
}
