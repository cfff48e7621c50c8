package layout_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// pkgInfo is what go list says of one of Cairn's packages.
type pkgInfo struct {
	ImportPath   string
	Imports      []string // the package's own files
	Deps         []string // everything the package links, transitively
	TestImports  []string
	XTestImports []string
}

// listPackages lists every package of the module with its imports.
func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-json=ImportPath,Imports,Deps,TestImports,XTestImports", module+"...")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pkgs []pkgInfo
	dec := json.NewDecoder(out)
	for {
		var p pkgInfo
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		p.ImportPath = strings.TrimPrefix(p.ImportPath, module)
		pkgs = append(pkgs, p)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if len(pkgs) < 10 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

// sqlDrivers are the modules whose presence in a binary means it links a
// SQL store.
var sqlDrivers = []string{"modernc.org/sqlite", "github.com/jackc/pgx", module + "internal/sqldb"}

// TestGatewayLinksNoStore: the gateway (and its subpackages) resolves types
// through registry/regclient; it links neither the registry server nor any
// SQL driver. Its tests may run a registry server.
func TestGatewayLinksNoStore(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath != "gateway" && !strings.HasPrefix(p.ImportPath, "gateway/") {
			continue
		}
		for _, dep := range p.Deps {
			rel, ours := strings.CutPrefix(dep, module)
			if ours && (rel == "registry" || strings.HasPrefix(rel, "registry/") && rel != "registry/regclient") {
				t.Errorf("%s links %s: the gateway uses registry/regclient, never the registry server", p.ImportPath, rel)
			}
			for _, d := range sqlDrivers {
				if dep == d || strings.HasPrefix(dep, d+"/") {
					t.Errorf("%s links %s: the gateway keeps no SQL store", p.ImportPath, dep)
				}
			}
		}
	}
}

// TestRegistryClientIsApart: registry/regclient imports neither the server
// nor SQL, so that whoever imports it links neither.
func TestRegistryClientIsApart(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath != "registry/regclient" {
			continue
		}
		for _, dep := range p.Deps {
			if dep == module+"registry" || strings.HasPrefix(dep, module+"registry/") && dep != module+"registry/regclient" {
				t.Errorf("registry/regclient links %s", dep)
			}
			for _, d := range sqlDrivers {
				if dep == d || strings.HasPrefix(dep, d+"/") {
					t.Errorf("registry/regclient links %s", dep)
				}
			}
		}
		return
	}
	t.Fatal("go list did not find registry/regclient")
}

// TestWorkersRuntimeKnowsNoHunt: the runtime package (workers itself) imports
// no hunt code: neither the game rules, nor the hunt app, nor the hunt
// proto.
func TestWorkersRuntimeKnowsNoHunt(t *testing.T) {
	var bad []string
	for _, p := range listPackages(t) {
		if p.ImportPath != "workers" {
			continue
		}
		for _, imp := range p.Imports {
			rel, ours := strings.CutPrefix(imp, module)
			if ours && (strings.HasPrefix(rel, "workers/") || strings.HasPrefix(rel, "proto/cairn/hunt/")) {
				bad = append(bad, rel)
			}
		}
	}
	if len(bad) > 0 {
		t.Errorf("the workers runtime imports %s: it must know nothing of hunts", strings.Join(bad, ", "))
	}
}

// confluentKafka is the one package of confluent-kafka-go that only
// internal/kafkax may import. Its schemaregistry packages are third-party
// registry clients, which the registry's tests use.
const confluentKafka = "github.com/confluentinc/confluent-kafka-go/v2/kafka"

// TestOneKafkaSeam: nothing outside internal/kafkax imports
// confluent-kafka-go's kafka package, test files included.
func TestOneKafkaSeam(t *testing.T) {
	for _, p := range listPackages(t) {
		if p.ImportPath == "internal/kafkax" {
			continue
		}
		var where []string
		if slices.Contains(p.Imports, confluentKafka) {
			where = append(where, "its code")
		}
		if slices.Contains(p.TestImports, confluentKafka) || slices.Contains(p.XTestImports, confluentKafka) {
			where = append(where, "its tests")
		}
		if len(where) > 0 {
			t.Errorf("%s imports %s in %s: only internal/kafkax may", p.ImportPath, confluentKafka, strings.Join(where, " and "))
		}
	}
}
