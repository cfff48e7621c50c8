package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaCheckWithNewImports: a check whose files import a file the
// registry does not hold yet is judged by the registry as a whole, imports
// first, with every refusal registration would make: a rule that does not
// compile in the new file (which no event uses, so only the registry
// compiles it) and a changed actor_field are refused; a compatible change
// that uses the new file may be pushed.
func TestSchemaCheckWithNewImports(t *testing.T) {
	env := startSchemaEnv(t)
	root := t.TempDir()
	base := filepath.Join(root, "base")
	writeFiles(t, base, shopModule)
	if code, _, _ := env.schema(t, append([]string{"push"}, append(env.flags(ownerKey), base)...)...); code != 0 {
		t.Fatalf("push of the team's module: exit %d", code)
	}

	address := `syntax = "proto3";
package shop.v1;
import "buf/validate/validate.proto";
message Address {
  string city = 1;
}
message Parcel {
  option (buf.validate.message).cel = {
    id: "weight_positive"
    expression: "this.weight > 'heavy'"
  };
  int64 weight = 1;
}
`
	usesAddress := func(extra ...[2]string) string {
		text := strings.NewReplacer(
			`import "shop/v1/types.proto";`, "import \"shop/v1/types.proto\";\nimport \"shop/v1/address.proto\";",
			"  Money total = 2;\n", "  Money total = 2;\n  Address ship_to = 3;\n",
		).Replace(shopModule["proto/shop/v1/order_placed.proto"])
		for _, e := range extra {
			text = strings.Replace(text, e[0], e[1], 1)
		}
		return text
	}
	module := func(name, addressText, placedText string) string {
		dir := filepath.Join(root, name)
		writeFiles(t, dir, shopModule)
		writeFiles(t, dir, map[string]string{"proto/shop/v1/address.proto": addressText, "proto/shop/v1/order_placed.proto": placedText})
		return dir
	}
	goodAddress := strings.Replace(address, "this.weight > 'heavy'", "this.weight > 0", 1)
	actorChanged := usesAddress(
		[2]string{`key_field: "order_id"`, "key_field: \"order_id\"\n    actor_field: \"customer_id\""},
		[2]string{"  Address ship_to = 3;\n", "  Address ship_to = 3;\n  string customer_id = 4;\n"},
	)
	eventRule := usesAddress([2]string{"  Address ship_to = 3;\n", "  Address ship_to = 3 [(buf.validate.field).cel = {id: \"ship_to_named\", expression: \"this.city > 7\"}];\n"})
	for _, tc := range []struct {
		name    string
		dir     string
		code    int
		wants   []string
		unwants []string
	}{
		{"compatible change using a new import", module("good", goodAddress, usesAddress()), 0,
			[]string{"new            shop/v1/address.proto", "compatible     shop.v1.OrderPlaced  (would be version 2)", "unchanged      shop.v1.OrderShipped", "may be pushed"}, nil},
		{"rule in the new import that does not compile", module("badrule", address, usesAddress()), 1,
			[]string{"INVALID        shop/v1/address.proto", "weight_positive", "INVALID        shop.v1.OrderPlaced", `import "shop/v1/address.proto"`, "may NOT be pushed"}, nil},
		{"actor_field changed beside a new import", module("actor", goodAddress, actorChanged), 1,
			[]string{"new            shop/v1/address.proto", "INCOMPATIBLE   shop.v1.OrderPlaced", "EVENT_OPTION_CHANGED", "actor_field", "may NOT be pushed"}, nil},
		{"event rule that does not compile", module("eventrule", goodAddress, eventRule), 1,
			[]string{"ship_to_named"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := env.schema(t, "check", "--registry-addr", env.registryAddr, tc.dir)
			if code != tc.code {
				t.Errorf("exit %d, want %d", code, tc.code)
			}
			mustContain(t, "output", out+errOut, tc.wants...)
		})
	}
	// Nothing was registered by the checks.
	code, out, _ := env.schema(t, "check", "--registry-addr", env.registryAddr, base)
	if code != 0 || strings.Contains(out, "address.proto") || !strings.Contains(out, "unchanged      shop.v1.OrderPlaced") {
		t.Errorf("the team's module after the checks: exit %d; want it unchanged", code)
	}
}
