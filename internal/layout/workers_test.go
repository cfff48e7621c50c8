package layout_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// TestWorkersRuntimeKnowsNoHunt: the runtime (package workers) imports no
// hunt code and no hunt proto, and nothing under workers/, tests included,
// imports confluent-kafka-go: the runtime reaches Kafka through
// internal/kafkax only.
func TestWorkersRuntimeKnowsNoHunt(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,TestImports,XTestImports", module+"workers/...")
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
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen++
		rel := strings.TrimPrefix(p.ImportPath, module)
		for _, imp := range p.Imports {
			dep := strings.TrimPrefix(imp, module)
			if rel == "workers" && (strings.HasPrefix(dep, "workers/") || strings.HasPrefix(dep, "proto/cairn/hunt/")) {
				t.Errorf("the workers runtime imports %s: it must know no application", dep)
			}
		}
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			if strings.HasPrefix(imp, "github.com/confluentinc/confluent-kafka-go") {
				t.Errorf("%s imports %s: only internal/kafkax may", rel, imp)
			}
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if seen < 4 {
		t.Fatalf("go list found only %d packages under workers/", seen)
	}
}
