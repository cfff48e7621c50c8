package compat_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bufbuild/protocompile"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/registry/compat"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// kinds lists every kind; each must show in at least one golden file.
var kinds = []compat.Kind{
	compat.PackageChanged, compat.MessageRemoved,
	compat.FieldKindChanged, compat.FieldScalarKindChanged, compat.FieldNamedTypeChanged,
	compat.FieldNumericLabelChanged,
	compat.FieldMovedToExistingOneof, compat.MultipleFieldsMovedToOneof, compat.OneofFieldRemoved,
	compat.RequiredFieldAdded, compat.RequiredFieldRemoved,
}

// TestGolden checks each case in testdata: the versions v1.proto, v2.proto
// (and v3.proto …) of one file, the last being the candidate and the others
// the existing versions. Its verdicts.golden lists, for every level, the
// verdict and the incompatibilities; the comment at the top of the last
// version says what changed. Run with -update to rewrite the golden files.
func TestGolden(t *testing.T) {
	dirs, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	reported := make(map[compat.Kind]bool)
	for _, dir := range dirs {
		if !dir.IsDir() {
			continue
		}
		t.Run(dir.Name(), func(t *testing.T) {
			caseDir := filepath.Join("testdata", dir.Name())
			versions, about := loadVersions(t, caseDir)
			got := verdicts(about, versions[len(versions)-1], versions[:len(versions)-1], reported)
			golden := filepath.Join(caseDir, "verdicts.golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			if d := cmp.Diff(string(want), got); d != "" {
				t.Errorf("%s mismatch (-want +got):\n%s", golden, d)
			}
		})
	}
	for _, k := range kinds {
		if !reported[k] {
			t.Errorf("no golden case reports %s", k)
		}
	}
}

// verdicts renders the verdict of every level for candidate after existing,
// noting each kind reported.
func verdicts(about string, candidate protoreflect.FileDescriptor, existing []protoreflect.FileDescriptor, reported map[compat.Kind]bool) string {
	var b strings.Builder
	b.WriteString(about)
	for _, level := range levels {
		found := compat.Check(level, candidate, existing)
		verdict := "compatible"
		if len(found) > 0 {
			verdict = "incompatible"
		}
		fmt.Fprintf(&b, "%s: %s\n", level, verdict)
		for _, inc := range found {
			reported[inc.Kind] = true
			version := fmt.Sprintf("v%d", inc.Version+1)
			direction := "new reads " + version
			if inc.Forward {
				direction = version + " reads new"
			}
			fmt.Fprintf(&b, "  %s: %s\n", direction, inc)
		}
	}
	return b.String()
}

// loadVersions compiles dir's v1.proto, v2.proto … and returns them with the
// leading comment of the last one, turned into "# " lines.
func loadVersions(t *testing.T, dir string) ([]protoreflect.FileDescriptor, string) {
	t.Helper()
	var versions []protoreflect.FileDescriptor
	var last string
	for v := 1; ; v++ {
		src, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("v%d.proto", v)))
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		versions = append(versions, compile(t, map[string]string{"test.proto": string(src)}))
		last = string(src)
	}
	if len(versions) < 2 {
		t.Fatalf("%s: want v1.proto and v2.proto at least", dir)
	}
	var about strings.Builder
	for line := range strings.Lines(last) {
		text, ok := strings.CutPrefix(line, "//")
		if !ok {
			break
		}
		about.WriteString("#" + text)
	}
	return versions, about.String()
}

// compile compiles test.proto from files, resolving the google/protobuf
// imports, and returns it.
func compile(t *testing.T, files map[string]string) protoreflect.FileDescriptor {
	t.Helper()
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			Accessor: protocompile.SourceAccessorFromMap(files),
		}),
	}
	compiled, err := c.Compile(context.Background(), "test.proto")
	if err != nil {
		t.Fatal(err)
	}
	return compiled[0]
}
