package layout_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/cairnhq/cairn/"

// rules say, for packages under a prefix, which of Cairn's packages they
// must not import, and for workers/hunt what alone it may import.
var rules = []struct {
	pkg       string // prefix, relative to the module
	forbidden []string
}{
	{"internal/", []string{"gateway", "registry", "workers", "cmd"}},
	{"proto/", []string{"gateway", "registry", "workers", "cmd", "internal"}},
	{"gateway", []string{"workers", "cmd"}},
	{"registry", []string{"gateway", "workers", "cmd"}},
	{"workers", []string{"gateway", "cmd"}},
}

func TestDependenciesPointOneWay(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/cairnhq/cairn/...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(p.ImportPath, module)
		for _, imp := range p.Imports {
			dep, ours := strings.CutPrefix(imp, module)
			if rel == "workers/hunt" && !allowedInRules(imp) {
				t.Errorf("workers/hunt imports %s: the game rules may import only the standard library, proto and google.golang.org/protobuf", imp)
			}
			if !ours {
				continue
			}
			for _, r := range rules {
				if !strings.HasPrefix(rel, r.pkg) {
					continue
				}
				for _, f := range r.forbidden {
					if dep == f || strings.HasPrefix(dep, f+"/") {
						t.Errorf("%s imports %s: %s must not depend on %s", rel, dep, r.pkg, f)
					}
				}
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if seen < 10 {
		t.Fatalf("go list found only %d packages", seen)
	}
}

// allowedInRules reports whether the game rules may import path.
func allowedInRules(path string) bool {
	first, _, _ := strings.Cut(path, "/")
	return !strings.Contains(first, ".") || // the standard library
		strings.HasPrefix(path, module+"proto/") ||
		strings.HasPrefix(path, "google.golang.org/protobuf/")
}
