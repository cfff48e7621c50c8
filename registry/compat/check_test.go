package compat_test

import (
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/registry/compat"
)

const (
	clueV1 = `syntax = "proto3";
package cairn.hunt.v1;
message ClueFound { string clue_id = 1; int32 points = 2; }`
	clueV2 = `syntax = "proto3";
package cairn.hunt.v1;
message ClueFound { string clue_id = 1; string points = 2; }`
)

func TestCheckNothingToCompare(t *testing.T) {
	t.Parallel()
	v1 := compile(t, map[string]string{"test.proto": clueV1})
	v2 := compile(t, map[string]string{"test.proto": clueV2})
	if got := compat.Check(compat.FullTransitive, v2, nil); got != nil {
		t.Errorf("Check with no existing version = %v, want nothing", got)
	}
	if got := compat.Check(compat.None, v2, []protoreflect.FileDescriptor{v1}); got != nil {
		t.Errorf("Check at NONE = %v, want nothing", got)
	}
}

func TestCheckUnknownLevelIsStrictest(t *testing.T) {
	t.Parallel()
	v1 := compile(t, map[string]string{"test.proto": clueV1})
	v2 := compile(t, map[string]string{"test.proto": clueV1})
	v3 := compile(t, map[string]string{"test.proto": clueV2})
	existing := []protoreflect.FileDescriptor{v1, v2}
	want := compat.Check(compat.FullTransitive, v3, existing)
	if len(want) != 4 {
		t.Fatalf("FULL_TRANSITIVE found %v, want 4 incompatibilities", want)
	}
	if d := cmp.Diff(want, compat.Check(compat.Level(42), v3, existing)); d != "" {
		t.Errorf("Level(42) differs from FULL_TRANSITIVE (-want +got):\n%s", d)
	}
}

// TestCheckImportedMessage covers message types from another file: they are
// compared where a field uses them, as Confluent compares referenced schemas.
func TestCheckImportedMessage(t *testing.T) {
	t.Parallel()
	const user = `syntax = "proto3";
package cairn.hunt.v1;
import "place.proto";
message ClueFound { cairn.geo.v1.Place where = 1; repeated cairn.geo.v1.Place also = 2; }`
	const place = `syntax = "proto3";
package cairn.geo.v1;
message Place { double lat = 1; double lng = 2; Place parent = 3; }`
	tests := []struct {
		name        string
		user, place string
		want        []string
	}{
		{name: "unchanged", user: user, place: place},
		{
			name: "field added",
			user: user,
			place: `syntax = "proto3";
package cairn.geo.v1;
message Place { double lat = 1; double lng = 2; Place parent = 3; string label = 4; }`,
		},
		{
			name: "package changed",
			user: `syntax = "proto3";
package cairn.hunt.v1;
import "place.proto";
message ClueFound { cairn.geo.v2.Place where = 1; repeated cairn.geo.v2.Place also = 2; }`,
			place: `syntax = "proto3";
package cairn.geo.v2;
message Place { double lat = 1; double lng = 2; Place parent = 3; }`,
		},
		{
			name: "field type changed",
			user: user,
			place: `syntax = "proto3";
package cairn.geo.v1;
message Place { string lat = 1; double lng = 2; Place parent = 3; }`,
			want: []string{
				"FIELD_SCALAR_KIND_CHANGED #/Place/1",
				"FIELD_NAMED_TYPE_CHANGED #/ClueFound/1",
				"FIELD_NAMED_TYPE_CHANGED #/ClueFound/2",
			},
		},
	}
	v1 := compile(t, map[string]string{"test.proto": user, "place.proto": place})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v2 := compile(t, map[string]string{"test.proto": tt.user, "place.proto": tt.place})
			var got []string
			for _, inc := range compat.Check(compat.Backward, v2, []protoreflect.FileDescriptor{v1}) {
				got = append(got, string(inc.Kind)+" "+inc.Path)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Check (-want +got):\n%s", d)
			}
		})
	}
}

// TestCheckConcurrent lets the race detector watch Check share descriptors.
func TestCheckConcurrent(t *testing.T) {
	t.Parallel()
	v1 := compile(t, map[string]string{"test.proto": clueV1})
	v2 := compile(t, map[string]string{"test.proto": clueV2})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got := compat.Check(compat.Full, v2, []protoreflect.FileDescriptor{v1}); len(got) != 2 {
				t.Errorf("Check = %v, want 2 incompatibilities", got)
			}
		})
	}
	wg.Wait()
}
