package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/testaddr"
	"github.com/cairnhq/cairn/internal/wire"
)

// TestTail reads a topic holding a framed event, a record that is not
// framed and one framed with a schema id the registry does not know, in
// both formats, with filters, and with the registry down.
func TestTail(t *testing.T) {
	s := startDev(t)
	s.publish(t, "cairn.hunt.v1.PlayerRegistered", `{"playerId": "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}`)
	unframed := []byte("plain text, not framed")
	s.produce(t, "cairn.player.events", "raw", unframed, kafkax.Header{Key: "cairn-event-id", Value: []byte("raw-1")})
	unknown := wire.Append(nil, wire.Header{SchemaID: 4242}, []byte{0x0a, 0x01, 'x'})
	s.produce(t, "cairn.player.events", "unknown", unknown)

	tail := func(args ...string) (int, string, string) {
		return cli(t, append([]string{"tail", "--kafka-brokers", s.kafka, "--registry-addr", s.registry}, args...)...)
	}

	code, out, errOut := tail("--format", "json", "cairn.player.events")
	if code != 0 {
		t.Fatalf("tail: exit %d: %s", code, errOut)
	}
	recs := jsonLines(t, out)
	if len(recs) != 3 {
		t.Fatalf("tail printed %d records, want 3:\n%s", len(recs), out)
	}
	byKey := make(map[string]map[string]any)
	for _, r := range recs {
		byKey[r["key"].(string)] = r
	}
	ada := byKey["5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01"]
	if ada["status"] != "decoded" || ada["type"] != "cairn.hunt.v1.PlayerRegistered" || ada["payload"].(map[string]any)["displayName"] != "Ada" {
		t.Errorf("framed record: %v", ada)
	}
	if hs, _ := ada["headers"].([]any); len(hs) == 0 {
		t.Errorf("framed record has no cairn-* headers: %v", ada)
	}
	raw := byKey["raw"]
	if raw["status"] != "unframed" || raw["bytes"] != base64.StdEncoding.EncodeToString(unframed) || raw["error"] == "" {
		t.Errorf("unframed record: %v", raw)
	}
	unk := byKey["unknown"]
	if unk["status"] != "unknown_schema" || unk["bytes"] != base64.StdEncoding.EncodeToString(unknown) || !strings.Contains(unk["error"].(string), "4242") {
		t.Errorf("unknown-schema record: %v", unk)
	}

	code, out, errOut = tail("cairn.player.events")
	if code != 0 {
		t.Fatalf("tail: exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("tail printed %d lines, want 3:\n%s", len(lines), out)
	}
	for _, want := range []string{
		`cairn.hunt.v1.PlayerRegistered {"playerId":"5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01","displayName":"Ada"`,
		`key="raw" cairn-event-id=raw-1 [UNFRAMED]`,
		"bytes(base64)=" + base64.StdEncoding.EncodeToString(unframed),
		`key="unknown" [UNKNOWN_SCHEMA]`,
		"cairn.player.events/",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}

	// Filters and the limit.
	if _, out, _ = tail("--format", "json", "--type", "cairn.hunt.v1.PlayerRegistered", "cairn.player.events"); len(jsonLines(t, out)) != 1 {
		t.Errorf("--type kept:\n%s", out)
	}
	if _, out, _ = tail("--key", "raw", "cairn.player.events"); strings.Count(out, "\n") != 1 || !strings.Contains(out, "UNFRAMED") {
		t.Errorf("--key kept:\n%s", out)
	}
	if _, out, _ = tail("--limit", "2"); strings.Count(out, "\n") != 2 {
		t.Errorf("--limit 2 printed:\n%s", out)
	}
	if _, out, _ = tail("--from", "end", "cairn.player.events"); out != "" {
		t.Errorf("--from end without --follow printed:\n%s", out)
	}
	if _, out, _ = tail("--from", "1h", "--format", "json", "cairn.player.events"); len(jsonLines(t, out)) != 3 {
		t.Errorf("--from 1h printed:\n%s", out)
	}

	// Bad input.
	code, _, errOut = tail("cairn.nope")
	if code != 1 || !strings.Contains(errOut, "no such topic: cairn.nope") || !strings.Contains(errOut, "cairn.player.events") {
		t.Errorf("tail of an unknown topic: exit %d: %s", code, errOut)
	}
	code, _, errOut = tail("--from", "yesterday")
	if code != 2 || !strings.Contains(errOut, `--from "yesterday"`) {
		t.Errorf("tail --from yesterday: exit %d: %s", code, errOut)
	}
	// The registry down: records undecoded, a warning, and the tail goes on.
	code, out, errOut = cli(t, "tail", "--kafka-brokers", s.kafka, "--registry-addr", testaddr.Get(t), "--format", "json", "cairn.player.events")
	if code != 0 || !strings.Contains(errOut, "warning:") {
		t.Fatalf("tail with the registry down: exit %d: %s", code, errOut)
	}
	recs = jsonLines(t, out)
	if len(recs) != 3 {
		t.Fatalf("tail with the registry down printed %d records, want 3", len(recs))
	}
	for _, r := range recs {
		if r["key"] != "raw" && r["status"] != "registry_unavailable" {
			t.Errorf("with the registry down, %v", r)
		}
	}
}
