package main

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/schemaload"
	"github.com/cairnhq/cairn/internal/testaddr"
	"github.com/cairnhq/cairn/registry"
)

// shopModule is a team's buf module: a shared types file and two events.
var shopModule = map[string]string{
	"buf.yaml": "version: v2\nmodules:\n  - path: proto\n",
	"proto/shop/v1/types.proto": `syntax = "proto3";
package shop.v1;
message Money {
  string currency = 1;
  int64 units = 2;
}
`,
	"proto/shop/v1/order_placed.proto": `syntax = "proto3";
package shop.v1;
import "buf/validate/validate.proto";
import "cairn/options/v1/options.proto";
import "shop/v1/types.proto";
message OrderPlaced {
  option (cairn.options.v1.event) = {
    topic: "shop.orders"
    key_field: "order_id"
    partitions: 4
    retention_ms: 3600000
  };
  string order_id = 1 [(buf.validate.field).string.min_len = 1];
  Money total = 2;
}
`,
	"proto/shop/v1/order_shipped.proto": `syntax = "proto3";
package shop.v1;
import "cairn/options/v1/options.proto";
message OrderShipped {
  option (cairn.options.v1.event) = {
    topic: "shop.shipments"
    key_field: "order_id"
    partitions: 2
    cleanup_policy: CLEANUP_POLICY_DELETE
  };
  string order_id = 1;
  string carrier = 2;
}
`,
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// schemaEnv is a registry (with an owner's and a reader's API key) and a
// one-broker Kafka, as a team's CI would find them.
type schemaEnv struct {
	registryAddr string
	kafka        string
}

const (
	ownerKey  = "shop-owner-key-0123456789"
	readerKey = "shop-reader-key-0123456789"
)

func startSchemaEnv(t *testing.T) schemaEnv {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	reg, closeRegistry, err := openRegistry(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "registry.db"), log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeRegistry)
	addr := testaddr.Get(t)
	c, err := registryComponent(reg, registry.HandlerOptions{Logger: log, Principals: []registry.Principal{
		{Name: "shop", APIKey: ownerKey, Role: registry.RoleSchemaOwner},
		{Name: "shop-ci-reader", APIKey: readerKey, Role: registry.RoleReader},
	}}, addr, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := newLifecycle(log, 10*time.Second)
	if err := l.start(t.Context(), c); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.stop(); err != nil {
			t.Error(err)
		}
	})
	broker, err := devbroker.Start("127.0.0.1:0", 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	return schemaEnv{registryAddr: addr, kafka: broker.Addr()}
}

// schema runs `cairn schema …` and returns its exit code and output.
func (e schemaEnv) schema(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	// A generous timeout: the race detector and a loaded machine slow the
	// registry's compiles of protovalidate's large file.
	if len(args) > 0 {
		args = append([]string{args[0], "--timeout", "5m"}, args[1:]...)
	}
	code = run(t.Context(), append([]string{"schema"}, args...), &out, &errb)
	t.Logf("cairn schema %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
	return code, out.String(), errb.String()
}

func (e schemaEnv) flags(token string) []string {
	return []string{"--registry-addr", e.registryAddr, "--registry-token", token, "--kafka-brokers", e.kafka}
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

// TestSchemaCheckAndPush walks a team's module through its life: new,
// pushed (its topics created with their declared shape), re-pushed
// unchanged, changed compatibly, changed incompatibly, and its topic's
// security option changed.
func TestSchemaCheckAndPush(t *testing.T) {
	env := startSchemaEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, shopModule)

	// A topic someone made by hand, with another shape than declared.
	admin, err := kafkax.NewAdmin(env.kafka)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(t.Context(), kafkax.TopicSpec{Name: "shop.shipments", Partitions: 1}); err != nil {
		t.Fatal(err)
	}

	code, out, _ := env.schema(t, append([]string{"check"}, append(env.flags(readerKey), dir)...)...)
	if code != 1 {
		t.Fatalf("check of a new module beside a topic not as declared: exit %d, want 1", code)
	}
	mustContain(t, "check of a new module", out,
		"new            shop/v1/types.proto",
		"new            shop.v1.OrderPlaced",
		"new            shop.v1.OrderShipped",
		"topic missing  shop.orders",
		"topic DIFFERS  shop.shipments",
		"partitions: declared 2, the topic has 1",
		"topic shop.shipments DIFFERS: may NOT be pushed")

	code, out, _ = env.schema(t, append([]string{"push"}, append(env.flags(ownerKey), dir)...)...)
	if code != 1 {
		t.Fatalf("push with a topic not as declared: exit %d, want 1", code)
	}
	mustContain(t, "first push", out,
		"registered     cairn/options/v1/options.proto  (version 1)",
		"registered     shop/v1/types.proto  (version 1)",
		"registered     shop.v1.OrderPlaced  (version 1)",
		"topic created  shop.orders",
		"topic DIFFERS  shop.shipments",
		"a topic is not as declared")
	state, found, err := admin.DescribeTopic(t.Context(), "shop.orders")
	if err != nil || !found {
		t.Fatalf("shop.orders after push: found %v, %v", found, err)
	}
	if state.Partitions != 4 || state.RetentionMs != 3600000 {
		t.Errorf("shop.orders: %d partitions, retention.ms %d; want 4 and 3600000", state.Partitions, state.RetentionMs)
	}
	shipments, _, err := admin.DescribeTopic(t.Context(), "shop.shipments")
	if err != nil || shipments.Partitions != 1 {
		t.Errorf("shop.shipments was changed: %+v, %v", shipments, err)
	}

	// The team fixes its declaration to match the topic; pushing again
	// registers what changed and nothing else.
	shipped := strings.Replace(shopModule["proto/shop/v1/order_shipped.proto"], "partitions: 2", "partitions: 1", 1)
	writeFiles(t, dir, map[string]string{"proto/shop/v1/order_shipped.proto": shipped})
	code, out, _ = env.schema(t, append([]string{"push"}, append(env.flags(ownerKey), dir)...)...)
	if code != 0 {
		t.Fatalf("push after the fix: exit %d, want 0", code)
	}
	mustContain(t, "push after the fix", out, "unchanged      shop.v1.OrderPlaced  (version 1)", "registered     shop.v1.OrderShipped  (version 2)", "topic exists   shop.shipments")

	code, out, _ = env.schema(t, append([]string{"push"}, append(env.flags(ownerKey), dir)...)...)
	if code != 0 || !strings.Contains(out, "nothing to register") || strings.Contains(out, "registered ") {
		t.Fatalf("unchanged re-push: exit %d, want 0 and nothing registered", code)
	}

	// A compatible change: a new field.
	placed := strings.Replace(shopModule["proto/shop/v1/order_placed.proto"], "  Money total = 2;\n", "  Money total = 2;\n  string coupon = 3;\n", 1)
	writeFiles(t, dir, map[string]string{"proto/shop/v1/order_placed.proto": placed})
	code, out, _ = env.schema(t, "check", "--registry-addr", env.registryAddr, "--format", "json", dir)
	if code != 0 {
		t.Fatalf("check of a compatible change: exit %d, want 0", code)
	}
	mustContain(t, "json check", out, `"subject": "shop.v1.OrderPlaced"`, `"status": "compatible"`, `"version": 2`, `"ok": true`)
	if code, _, _ = env.schema(t, append([]string{"push"}, append(env.flags(ownerKey), dir)...)...); code != 0 {
		t.Fatalf("push of a compatible change: exit %d", code)
	}

	// An incompatible change: a field's type.
	broken := strings.Replace(placed, "string coupon = 3;", "int64 coupon = 3;", 1)
	writeFiles(t, dir, map[string]string{"proto/shop/v1/order_placed.proto": broken})
	code, out, _ = env.schema(t, "check", "--registry-addr", env.registryAddr, dir)
	if code != 1 {
		t.Fatalf("check of an incompatible change: exit %d, want 1", code)
	}
	mustContain(t, "check of an incompatible change", out, "INCOMPATIBLE   shop.v1.OrderPlaced", "#/OrderPlaced/3: FIELD_SCALAR_KIND_CHANGED", "may NOT be pushed")
	code, out, _ = env.schema(t, append([]string{"push"}, append(env.flags(ownerKey), dir)...)...)
	if code != 1 || !strings.Contains(out, "nothing was registered") {
		t.Fatalf("push of an incompatible change: exit %d, want 1 and nothing registered", code)
	}

	// A change of a security option: the event's topic.
	writeFiles(t, dir, map[string]string{"proto/shop/v1/order_placed.proto": strings.Replace(placed, `topic: "shop.orders"`, `topic: "shop.orders-v2"`, 1)})
	code, out, _ = env.schema(t, "check", "--registry-addr", env.registryAddr, dir)
	if code != 1 {
		t.Fatalf("check of a topic change: exit %d, want 1", code)
	}
	mustContain(t, "check of a topic change", out, "INCOMPATIBLE   shop.v1.OrderPlaced", "EVENT_OPTION_CHANGED", "topic")
	if code, _, _ = env.schema(t, append([]string{"push"}, append(env.flags(ownerKey), dir)...)...); code != 1 {
		t.Fatalf("push of a topic change: exit %d, want 1", code)
	}
}

// TestSchemaImages checks and pushes a module given as buf images, binary
// and JSON, as `buf build -o` writes them.
func TestSchemaImages(t *testing.T) {
	env := startSchemaEnv(t)
	dir := t.TempDir()
	writeFiles(t, dir, shopModule)
	set, err := schemaload.Load(t.Context(), dir)
	if err != nil {
		t.Fatal(err)
	}
	var image descriptorpb.FileDescriptorSet
	for _, fd := range set.Files {
		image.File = append(image.File, protodesc.ToFileDescriptorProto(fd))
	}
	bin, err := proto.Marshal(&image)
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(&image)
	if err != nil {
		t.Fatal(err)
	}
	writeFiles(t, dir, map[string]string{"image.binpb": string(bin), "image.json": string(js)})

	code, out, _ := env.schema(t, "check", "--registry-addr", env.registryAddr, filepath.Join(dir, "image.json"))
	if code != 0 || !strings.Contains(out, "new            shop.v1.OrderShipped") {
		t.Fatalf("check of a JSON image: exit %d", code)
	}
	if code, _, _ = env.schema(t, "push", "--registry-addr", env.registryAddr, "--registry-token", ownerKey, filepath.Join(dir, "image.binpb")); code != 0 {
		t.Fatalf("push of a binary image: exit %d", code)
	}
	code, out, _ = env.schema(t, "check", "--registry-addr", env.registryAddr, dir)
	if code != 0 || !strings.Contains(out, "unchanged      shop.v1.OrderPlaced") {
		t.Fatalf("the module after its image was pushed: exit %d, want 0 and unchanged", code)
	}
	// .proto files, named relative to their buf module's root; the files
	// they import come along.
	code, out, _ = env.schema(t, "check", "--registry-addr", env.registryAddr, filepath.Join(dir, "proto/shop/v1/order_placed.proto"))
	if code != 0 || !strings.Contains(out, "unchanged      shop.v1.OrderPlaced") || !strings.Contains(out, "unchanged      shop/v1/types.proto") || strings.Contains(out, "OrderShipped") {
		t.Fatalf("check of one .proto file: exit %d, want 0, it and its import unchanged, nothing else", code)
	}
}

// TestSchemaBadInput gives check and push each bad input the issue lists.
func TestSchemaBadInput(t *testing.T) {
	env := startSchemaEnv(t)
	root := t.TempDir()
	withModule := func(name string, changes map[string]string) string {
		dir := filepath.Join(root, name)
		writeFiles(t, dir, shopModule)
		writeFiles(t, dir, changes)
		return dir
	}
	empty := filepath.Join(root, "empty")
	writeFiles(t, empty, map[string]string{"README.md": "no schemas here\n"})
	writeFiles(t, root, map[string]string{"garbage.binpb": "\xff\xff\xff not an image", "garbage.json": "{not json"})
	noField := withModule("nofield", map[string]string{"proto/shop/v1/order_shipped.proto": strings.Replace(shopModule["proto/shop/v1/order_shipped.proto"], `key_field: "order_id"`, `key_field: "parcel_id"`, 1)})
	notString := withModule("notstring", map[string]string{"proto/shop/v1/order_shipped.proto": strings.NewReplacer("string carrier = 2;", "int64 carrier = 2;", `key_field: "order_id"`, `key_field: "carrier"`).Replace(shopModule["proto/shop/v1/order_shipped.proto"])})
	noCompile := withModule("nocompile", map[string]string{"proto/shop/v1/order_shipped.proto": strings.Replace(shopModule["proto/shop/v1/order_shipped.proto"], "string carrier = 2;", "Carrier carrier = 2;", 1)})
	tooManyReplicas := withModule("replicas", map[string]string{"proto/shop/v1/order_shipped.proto": strings.Replace(shopModule["proto/shop/v1/order_shipped.proto"], "partitions: 2", "partitions: 2\n    replication_factor: 3", 1)})

	registryFlags := []string{"--registry-addr", env.registryAddr}
	for _, tc := range []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{"directory without schemas", append([]string{"check"}, append(registryFlags, empty)...), 2, []string{empty + ": no buf.yaml and no .proto files here"}},
		{"missing path", append([]string{"check"}, append(registryFlags, filepath.Join(root, "nope"))...), 2, []string{"no such file or directory"}},
		{"binary image that does not parse", append([]string{"check"}, append(registryFlags, filepath.Join(root, "garbage.binpb"))...), 2, []string{"garbage.binpb: not a buf image"}},
		{"JSON image that does not parse", append([]string{"check"}, append(registryFlags, filepath.Join(root, "garbage.json"))...), 2, []string{"garbage.json: not a buf image"}},
		{"file that does not compile", append([]string{"check"}, append(registryFlags, noCompile)...), 1, []string{filepath.Join(noCompile, "proto/shop/v1/order_shipped.proto") + ":12:3: ", "Carrier"}},
		{"key field that does not exist", append([]string{"check"}, append(registryFlags, noField)...), 1, []string{`shop.v1.OrderShipped: event option key_field names field "parcel_id", which does not exist`}},
		{"key field that is not a string", append([]string{"check"}, append(registryFlags, notString)...), 1, []string{`event option key_field names field "carrier", which is not a singular string`}},
		{"no path for check", append([]string{"check"}, registryFlags...), 2, []string{"want at least one PATH"}},
		{"unreachable registry", []string{"check", "--registry-addr", testaddr.Get(t), withModule("ok", nil)}, 2, []string{"registry unreachable at 127.0.0.1:", "(is `cairn dev` running?)"}},
		{"registry answering 401", []string{"push", "--registry-addr", env.registryAddr, "--registry-token", "not-a-key", withModule("ok", nil)}, 2, []string{"401"}},
		{"registry answering 403", []string{"push", "--registry-addr", env.registryAddr, "--registry-token", readerKey, withModule("ok", nil)}, 2, []string{"403"}},
		{"replication factor above the broker count", append([]string{"push"}, append(env.flags(ownerKey), tooManyReplicas)...), 1, []string{"topic REFUSED  shop.shipments", "Invalid replication factor", "nothing was registered"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := env.schema(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			mustContain(t, "output", out+errOut, tc.wants...)
		})
	}
	// Nothing of the refused pushes was registered.
	code, out, _ := env.schema(t, "check", "--registry-addr", env.registryAddr, withModule("ok", nil))
	if code != 0 || strings.Contains(out, "unchanged") {
		t.Errorf("after the refused pushes: exit %d; want every subject new", code)
	}
}
