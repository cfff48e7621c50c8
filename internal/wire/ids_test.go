package wire_test

import (
	"regexp"
	"testing"

	"github.com/cairnhq/cairn/internal/wire"
)

// TestDerivedEventID: a derived event's id depends on its cause and type
// only, is a version-5 UUID, and never changes from one release to the
// next (records already in Kafka carry it).
func TestDerivedEventID(t *testing.T) {
	t.Parallel()
	const cause, kind = "e3", "cairn.hunt.v1.AnswerJudged"
	got := wire.DerivedEventID(cause, kind)
	if want := "31ba3811-1fcc-5647-80f2-a71dcf003c83"; got != want {
		t.Errorf("DerivedEventID(%q, %q) = %s, want %s as in every earlier release", cause, kind, got, want)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(got) {
		t.Errorf("%s is not a version-5 UUID", got)
	}
	for _, other := range [][2]string{{"e4", kind}, {cause, "cairn.hunt.v1.ClueUnlocked"}, {cause + "\x00", kind[1:]}} {
		if id := wire.DerivedEventID(other[0], other[1]); id == got {
			t.Errorf("DerivedEventID(%q, %q) = DerivedEventID(%q, %q)", other[0], other[1], cause, kind)
		}
	}
}

// TestFrame: Frame is Append into a new slice.
func TestFrame(t *testing.T) {
	t.Parallel()
	h := wire.Header{SchemaID: 7, Indexes: []int{1, 2}}
	payload := []byte("payload")
	framed := wire.Frame(h, payload)
	if want := wire.Append(nil, h, payload); string(framed) != string(want) {
		t.Errorf("Frame = %x, Append = %x", framed, want)
	}
	got, rest, err := wire.Parse(framed)
	if err != nil || got.SchemaID != 7 || len(got.Indexes) != 2 || string(rest) != "payload" {
		t.Errorf("Parse(Frame) = %+v, %q, %v", got, rest, err)
	}
}
