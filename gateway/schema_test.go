package gateway_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/registry/regclient"
)

// TestNewRuleAppliesWithoutRestart registers a version of PlayerRegistered
// with a stricter display_name rule while the gateway runs: once the
// registry client's cache has aged, the next event is held to it.
func TestNewRuleAppliesWithoutRestart(t *testing.T) {
	t.Parallel()
	s := start(t)
	const subject = "cairn.hunt.v1.PlayerRegistered"
	long := "Bartholomew" // 11 characters: fine under max_len 40, not under 8
	if _, err := s.client.Publish(t.Context(), event(t, player(newUUID(), long))); err != nil {
		t.Fatalf("Publish before the new rule: %v", err)
	}

	sv, err := s.registry.Version(t.Context(), subject, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	stricter := strings.Replace(sv.Schema.Text, "max_len: 40", "max_len: 8", 1)
	if stricter == sv.Schema.Text {
		t.Fatalf("registered schema has no max_len: 40 to tighten:\n%s", sv.Schema.Text)
	}
	if _, err := s.registry.Register(t.Context(), subject, regclient.SchemaInput{Text: stricter, References: sv.Schema.References}); err != nil {
		t.Fatalf("register the stricter version: %v", err)
	}

	// The client re-checks the latest version once its entry is a second
	// old; allow plenty on a slow machine.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.client.Publish(t.Context(), event(t, player(newUUID(), long)))
		if st := status.Convert(err); st.Code() == codes.InvalidArgument {
			if !strings.Contains(st.Message(), "display_name") || !strings.Contains(st.Message(), subject) {
				t.Errorf("rejection %q does not name the type and field", st.Message())
			}
			break
		} else if err != nil {
			t.Fatalf("Publish: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("the new rule never applied")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if _, err := s.client.Publish(t.Context(), event(t, player(newUUID(), "Ada"))); err != nil {
		t.Errorf("Publish within the new rule: %v", err)
	}
}
