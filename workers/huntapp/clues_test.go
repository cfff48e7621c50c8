package huntapp

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/cairnhq/cairn/workers/hunt"
)

// TestClueCacheDecodesEachTextOnce checks that a text decodes to the
// clues it encodes, once: a second read shares the first's clues; that
// another text decodes to its own; that bad JSON is an error and is not
// kept; and that the cache stays within its bound.
func TestClueCacheDecodesEachTextOnce(t *testing.T) {
	t.Parallel()
	c := &clueCache{sets: make(map[string][]hunt.Clue)}
	want := []hunt.Clue{{ID: "c1", Text: "oak", Points: 10, AnswerSHA256: []byte{1, 2}}, {ID: "c2", Target: &hunt.Target{Latitude: 1, Longitude: 2, RadiusMeters: 30}}}
	text, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.decode(string(text))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, first); diff != "" {
		t.Fatalf("decoded (-want +got):\n%s", diff)
	}
	again, err := c.decode(string(text))
	if err != nil || &again[0] != &first[0] {
		t.Fatalf("second decode: %v, shared %v", err, err == nil && &again[0] == &first[0])
	}
	other, err := c.decode(`[{"id":"x","text":"t","points":1}]`)
	if err != nil || len(other) != 1 || other[0].ID != "x" {
		t.Fatalf("other text: %+v, %v", other, err)
	}
	if _, err := c.decode(`[{"id":`); err == nil {
		t.Fatal("bad JSON decoded")
	}
	if _, ok := c.sets[`[{"id":`]; ok {
		t.Fatal("bad JSON kept")
	}
	for i := range 2 * maxCachedClueSets {
		if _, err := c.decode(fmt.Sprintf(`[{"id":"c%d"}]`, i)); err != nil {
			t.Fatal(err)
		}
		if len(c.sets) > maxCachedClueSets {
			t.Fatalf("%d sets kept, bound %d", len(c.sets), maxCachedClueSets)
		}
	}
}

// TestClueCacheConcurrent reads texts from several goroutines at once (for
// the race detector): each gets its text's clues.
func TestClueCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := &clueCache{sets: make(map[string][]hunt.Clue)}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 3 * maxCachedClueSets {
				id := fmt.Sprintf("c%d", (i+g)%(maxCachedClueSets+7))
				clues, err := c.decode(`[{"id":"` + id + `"}]`)
				if err != nil || len(clues) != 1 || clues[0].ID != id {
					errs <- fmt.Errorf("%s: %+v, %v", id, clues, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
