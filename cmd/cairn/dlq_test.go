package main

import (
	"strings"
	"testing"

	"github.com/cairnhq/cairn/internal/kafkax"
)

// TestDLQReplay is the operator's session: a record framed with a schema
// the registry lacks is dead-lettered; cairn dlq lists and explains it;
// replay refuses it while the schema is missing; once the schema is
// registered, replay applies it once, and replaying it again applies it
// no more.
func TestDLQReplay(t *testing.T) {
	s := startDev(t)
	id := s.nextSchemaID(t)
	const eventID = "0d6b7a1e-2c3f-4a5b-8c9d-0e1f2a3b4c5d"
	hunt := s.poisonHunt(t, id, eventID)
	// A record no fix will make decodable, dead-lettered beside it.
	s.produce(t, "cairn.hunt.events", "junk", []byte("not framed at all"))

	// A dead letter whose source topic has since been deleted.
	s.produce(t, "cairn.deadletter", "old", []byte("whatever it was"),
		kafkax.Header{Key: "cairn-event-id", Value: []byte("retired-1")},
		kafkax.Header{Key: "cairn-dlq-reason", Value: []byte("undecodable")},
		kafkax.Header{Key: "cairn-dlq-error", Value: []byte("from a topic that is gone")},
		kafkax.Header{Key: "cairn-dlq-topic", Value: []byte("cairn.retired.events")},
		kafkax.Header{Key: "cairn-dlq-partition", Value: []byte("0")},
		kafkax.Header{Key: "cairn-dlq-offset", Value: []byte("7")},
	)

	var dls []map[string]any
	waitFor(t, "three dead letters", func() bool { dls = s.deadLetters(t); return len(dls) == 3 })
	var poisonID, junkID, retiredID string
	for _, d := range dls {
		if d["source_topic"] == "cairn.retired.events" {
			retiredID = d["id"].(string)
			continue
		}
		switch d["reason"] {
		case "unknown_schema":
			poisonID = d["id"].(string)
			if d["source_topic"] != "cairn.hunt.events" || !strings.Contains(d["error"].(string), "schema id") {
				t.Errorf("dead letter %v", d)
			}
		case "undecodable":
			junkID = d["id"].(string)
		}
	}
	if poisonID == "" || junkID == "" || retiredID == "" {
		t.Fatalf("dead letters %v: want one unknown_schema, one undecodable and one from cairn.retired.events", dls)
	}

	dlq := func(args ...string) (int, string, string) {
		return cli(t, append([]string{"dlq", args[0], "--kafka-brokers", s.kafka, "--registry-addr", s.registry}, args[1:]...)...)
	}
	code, out, errOut := dlq("list")
	if code != 0 || !strings.Contains(out, "unknown_schema") || !strings.Contains(out, "undecodable") || !strings.Contains(out, eventID) {
		t.Errorf("dlq list: exit %d:\n%s%s", code, out, errOut)
	}
	code, out, errOut = dlq("show", poisonID)
	if code != 0 || !strings.Contains(out, "reason:   unknown_schema") || !strings.Contains(out, "now:      unknown_schema") || !strings.Contains(out, "cairn-event-id="+eventID) {
		t.Errorf("dlq show %s: exit %d:\n%s%s", poisonID, code, out, errOut)
	}
	if code, _, errOut = dlq("show", "9:999"); code != 1 || !strings.Contains(errOut, "no dead letter 9:999") {
		t.Errorf("dlq show of a missing one: exit %d: %s", code, errOut)
	}
	if code, _, errOut = dlq("show", "nine"); code != 2 || !strings.Contains(errOut, "PARTITION:OFFSET") {
		t.Errorf("dlq show nine: exit %d: %s", code, errOut)
	}

	// Before the fix, replay refuses both and says why.
	code, out, _ = dlq("replay", "--yes")
	if code != 1 || !strings.Contains(out, "refused    "+poisonID+": still does not decode (unknown_schema)") || !strings.Contains(out, "0 replayed") {
		t.Errorf("replay before the fix: exit %d:\n%s", code, out)
	}

	// The fix: the schema the producer used is registered.
	if got := s.registerHuntCreatedV2(t); got != id {
		t.Fatalf("the new schema got id %d, the poisoned record says %d", got, id)
	}
	// A dry run by default.
	code, out, _ = dlq("replay", "--reason", "unknown_schema")
	if code != 0 || !strings.Contains(out, "would replay "+poisonID+" -> cairn.hunt.events (event id "+eventID) || !strings.Contains(out, "dry run") {
		t.Errorf("dry run: exit %d:\n%s", code, out)
	}
	if applied := s.metric(t, "cairn_worker_events_applied_total"); applied != 0 {
		t.Fatalf("a dry run applied %v events", applied)
	}
	// Replay everything: the junk and the orphan are refused, the hunt
	// replayed.
	code, out, _ = dlq("replay", "--yes")
	if code != 1 || !strings.Contains(out, "replayed   "+poisonID) ||
		!strings.Contains(out, "refused    "+junkID+": still does not decode (unframed)") ||
		!strings.Contains(out, "refused    "+retiredID+": source topic cairn.retired.events no longer exists") ||
		!strings.Contains(out, "1 replayed, 0 would be replayed (dry run), 2 refused") {
		t.Errorf("replay: exit %d:\n%s", code, out)
	}
	waitFor(t, "the replayed hunt applied", func() bool { return s.metric(t, "cairn_worker_events_applied_total") == 1 })
	code, out, errOut = cli(t, "hunt", "--gateway-addr", s.gateway, "get", hunt)
	if code != 0 || !strings.Contains(out, "Harbour walk") {
		t.Fatalf("hunt get after the replay: exit %d: %s%s", code, out, errOut)
	}

	// Again: the worker sees the same event id and skips it.
	if code, out, _ = dlq("replay", "--yes", "--id", poisonID); code != 0 || !strings.Contains(out, "1 replayed") {
		t.Errorf("second replay: exit %d:\n%s", code, out)
	}
	waitFor(t, "the second replay skipped", func() bool { return s.metric(t, "cairn_worker_duplicates_skipped_total") == 1 })
	if applied := s.metric(t, "cairn_worker_events_applied_total"); applied != 1 {
		t.Errorf("after two replays %v events applied, want 1", applied)
	}
}
