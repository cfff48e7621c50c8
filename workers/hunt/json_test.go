package hunt_test

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/cairnhq/cairn/workers/hunt"
)

// TestJSONRoundTrip stops random games part way, stores the state as JSON
// (the whole state, and each hunt as its own blob with the players apart,
// as a store would), loads it back and plays on: the loaded states must
// continue exactly as the original.
func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for seed := range uint64(seeds / 4) {
		events := newGame(seed)
		cut := rand.New(rand.NewPCG(seed, 1)).IntN(len(events) + 1)
		var original hunt.State
		replay(t, &original, events[:cut], false)

		var whole hunt.State
		if err := json.Unmarshal(marshal(t, &original), &whole); err != nil {
			t.Fatalf("seed %d: unmarshal state: %v", seed, err)
		}
		blobs := reassemble(t, &original)
		for name, loaded := range map[string]*hunt.State{"whole": &whole, "per hunt": blobs} {
			if diff := cmp.Diff(&original, loaded); diff != "" {
				t.Fatalf("seed %d, %s: loaded state differs (-original +loaded):\n%s", seed, name, diff)
			}
			if !bytes.Equal(marshal(t, &original), marshal(t, loaded)) {
				t.Fatalf("seed %d, %s: loaded state encodes differently", seed, name)
			}
		}

		want := replay(t, &original, events[cut:], false)
		for name, loaded := range map[string]*hunt.State{"whole": &whole, "per hunt": blobs} {
			got := replay(t, loaded, events[cut:], false)
			if !sameOutcomes(want, got) {
				t.Fatalf("seed %d, %s: outcomes after loading differ (-original +loaded):\n%s",
					seed, name, cmp.Diff(want, got, protocmp.Transform()))
			}
			if diff := cmp.Diff(&original, loaded); diff != "" {
				t.Fatalf("seed %d, %s: final states differ (-original +loaded):\n%s", seed, name, diff)
			}
		}
	}
}

// reassemble stores each hunt and each player of s as its own JSON blob and
// builds a state from them again.
func reassemble(t *testing.T, s *hunt.State) *hunt.State {
	t.Helper()
	var loaded hunt.State
	if s.Hunts != nil {
		loaded.Hunts = make(map[string]*hunt.Hunt)
	}
	for id, h := range s.Hunts {
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		loaded.Hunts[id] = new(hunt.Hunt)
		if err := json.Unmarshal(b, loaded.Hunts[id]); err != nil {
			t.Fatal(err)
		}
	}
	if s.Players != nil {
		loaded.Players = make(map[string]*hunt.Player)
	}
	for id, p := range s.Players {
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		loaded.Players[id] = new(hunt.Player)
		if err := json.Unmarshal(b, loaded.Players[id]); err != nil {
			t.Fatal(err)
		}
	}
	return &loaded
}
