package registry_test

import (
	"regexp"
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// TestGRPCMetadata: a version's metadata and rule set go in and come back
// out over gRPC, the same bytes the REST API stores (another metadata is
// another schema), and the client package reads them.
func TestGRPCMetadata(t *testing.T) {
	t.Parallel()
	g := startGRPC(t)
	ctx := t.Context()
	g.register(t, commonSubject, moneyProto, nil)
	metadata, err := structpb.NewStruct(map[string]any{"properties": map[string]any{"owner": "shop"}, "tags": map[string]any{"Order.id": []any{"PII"}}})
	if err != nil {
		t.Fatal(err)
	}
	ruleSet, err := structpb.NewStruct(map[string]any{"domainRules": []any{map[string]any{"name": "id", "kind": "CONDITION", "mode": "WRITE", "type": "CEL", "expr": "message.id != ''"}}})
	if err != nil {
		t.Fatal(err)
	}
	in := input(orderV1)
	in.Metadata, in.RuleSet = metadata, ruleSet
	resp, err := g.client.Register(ctx, &registryv1.RegisterRequest{Subject: orderSubject, Schema: in})
	if err != nil {
		t.Fatal(err)
	}
	id := resp.GetId()
	got, err := g.client.GetVersion(ctx, &registryv1.GetVersionRequest{Subject: orderSubject, Version: &registryv1.GetVersionRequest_Latest{Latest: true}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(metadata, got.GetSubjectVersion().GetSchema().GetMetadata(), protocmp.Transform()); diff != "" {
		t.Errorf("metadata (-sent +read):\n%s", diff)
	}
	if diff := cmp.Diff(ruleSet, got.GetSubjectVersion().GetSchema().GetRuleSet(), protocmp.Transform()); diff != "" {
		t.Errorf("rule set (-sent +read):\n%s", diff)
	}
	// The core holds what the REST API would have stored.
	s, err := g.core.SchemaByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"properties":{"owner":"shop"},"tags":{"Order.id":["PII"]}}`; string(s.Metadata) != want {
		t.Errorf("stored metadata %s, want %s", s.Metadata, want)
	}
	// The same schema without metadata is another schema.
	if _, err := g.client.LookUp(ctx, &registryv1.LookUpRequest{Subject: orderSubject, Schema: input(orderV1)}); err == nil {
		t.Error("look up without the metadata found the version with it")
	}
	found, err := g.client.LookUp(ctx, &registryv1.LookUpRequest{Subject: orderSubject, Schema: in})
	if err != nil || found.GetSubjectVersion().GetSchema().GetId() != id {
		t.Errorf("look up with the metadata: %v, %v", found, err)
	}
	// The client package reads them back too.
	sv, err := regclient.NewRemote(g.conn).Version(ctx, orderSubject, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	if string(sv.Schema.Metadata) != string(s.Metadata) || string(sv.Schema.RuleSet) != string(s.RuleSet) {
		t.Errorf("client read metadata %s and rule set %s; stored %s and %s", sv.Schema.Metadata, sv.Schema.RuleSet, s.Metadata, s.RuleSet)
	}
}

// TestGRPCNormalize: normalize on Register and LookUp, as ?normalize=true.
func TestGRPCNormalize(t *testing.T) {
	t.Parallel()
	g := startGRPC(t)
	ctx := t.Context()
	plain := func(text string) *registryv1.SchemaInput { return &registryv1.SchemaInput{Text: text} }
	first := g.register(t, "shuffle", shuffledA, nil)
	if _, err := g.client.LookUp(ctx, &registryv1.LookUpRequest{Subject: "shuffle", Schema: plain(shuffledB)}); err == nil {
		t.Error("look up of the reordered schema without normalize found it")
	}
	found, err := g.client.LookUp(ctx, &registryv1.LookUpRequest{Subject: "shuffle", Schema: plain(shuffledB), Normalize: true})
	if err != nil || found.GetSubjectVersion().GetSchema().GetId() != first {
		t.Errorf("look up with normalize: %v, %v; want id %d", found, err, first)
	}
	again, err := g.client.Register(ctx, &registryv1.RegisterRequest{Subject: "shuffle", Schema: plain(shuffledB), Normalize: true})
	if err != nil || again.GetId() != first {
		t.Errorf("register with normalize: %v, %v; want id %d", again, err, first)
	}
}

// TestGRPCCheckSchemas: a set whose import is new and changed is checked
// against the set's import, not the registered one; each refusal the
// registry makes at registration is a verdict; nothing is registered.
func TestGRPCCheckSchemas(t *testing.T) {
	t.Parallel()
	g := startGRPC(t)
	ctx := t.Context()
	g.register(t, commonSubject, moneyProto, nil)
	g.register(t, orderSubject, orderV1, moneyRef)

	// Money gains a field that Order uses: Order compiles only against the
	// set's Money.
	moneyV2 := `syntax = "proto3";
package cairn.test.deps;
message Money {
  string currency = 1;
  int64 units = 2;
  int32 nanos = 3;
}
`
	orderUsesNanos := `syntax = "proto3";
package cairn.test.v1;
import "buf/validate/validate.proto";
import "deps/common.proto";
message Order {
  option (buf.validate.message).cel = {id: "nanos_in_range", expression: "this.total.nanos < 1000000000"};
  string id = 1;
  cairn.test.deps.Money total = 2;
}
`
	orderBadRule := `syntax = "proto3";
package cairn.test.v1;
import "buf/validate/validate.proto";
import "deps/common.proto";
message Order {
  option (buf.validate.message).cel = {id: "nanos_compared_to_text", expression: "this.total.nanos < 'many'"};
  string id = 1;
  cairn.test.deps.Money total = 2;
}
`
	validateRef := &registryv1.Reference{Name: "buf/validate/validate.proto", Subject: "buf/validate/validate.proto", Version: 1}
	if err := regclient.RegisterFiles(ctx, g.core, validate.File_buf_validate_validate_proto); err != nil {
		t.Fatal(err)
	}
	refs := []*registryv1.Reference{validateRef, {Name: "deps/common.proto", Subject: commonSubject, Version: 1}}
	cand := func(subject, text string, refs []*registryv1.Reference) *registryv1.SchemaCandidate {
		return &registryv1.SchemaCandidate{Subject: subject, Schema: &registryv1.SchemaInput{Text: text, References: refs}}
	}
	for _, tt := range []struct {
		name string
		set  []*registryv1.SchemaCandidate
		want []*registryv1.SchemaVerdict
	}{
		{"unchanged", []*registryv1.SchemaCandidate{cand(commonSubject, moneyProto, nil), cand(orderSubject, orderV1, moneyRef)},
			[]*registryv1.SchemaVerdict{
				{Subject: commonSubject, Verdict: registryv1.Verdict_VERDICT_UNCHANGED, Version: 1},
				{Subject: orderSubject, Verdict: registryv1.Verdict_VERDICT_UNCHANGED, Version: 1},
			}},
		{"import changed and used", []*registryv1.SchemaCandidate{cand(commonSubject, moneyV2, nil), cand(orderSubject, orderUsesNanos, refs)},
			[]*registryv1.SchemaVerdict{
				{Subject: commonSubject, Verdict: registryv1.Verdict_VERDICT_COMPATIBLE, Version: 2},
				{Subject: orderSubject, Verdict: registryv1.Verdict_VERDICT_COMPATIBLE, Version: 2},
			}},
		{"new subject", []*registryv1.SchemaCandidate{cand(commonSubject, moneyV2, nil), cand("cairn.test.v1.Refund", orderV1, moneyRef)},
			[]*registryv1.SchemaVerdict{
				{Subject: commonSubject, Verdict: registryv1.Verdict_VERDICT_COMPATIBLE, Version: 2},
				{Subject: "cairn.test.v1.Refund", Verdict: registryv1.Verdict_VERDICT_NEW, Version: 1},
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := g.client.CheckSchemas(ctx, &registryv1.CheckSchemasRequest{Schemas: tt.set})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, resp.GetVerdicts(), protocmp.Transform()); diff != "" {
				t.Errorf("verdicts (-want +got):\n%s", diff)
			}
		})
	}

	// Verdicts with reasons: a rule that does not compile, an import that
	// does not compile (and so its importer), an incompatible change.
	resp, err := g.client.CheckSchemas(ctx, &registryv1.CheckSchemasRequest{Schemas: []*registryv1.SchemaCandidate{
		cand(commonSubject, moneyV2, nil),
		cand(orderSubject, orderBadRule, refs),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if v := resp.GetVerdicts()[1]; v.GetVerdict() != registryv1.Verdict_VERDICT_INVALID || len(v.GetMessages()) != 1 || !regexp.MustCompile(`nanos_compared_to_text`).MatchString(v.GetMessages()[0]) {
		t.Errorf("a rule that does not compile: %v", v)
	}
	resp, err = g.client.CheckSchemas(ctx, &registryv1.CheckSchemasRequest{Schemas: []*registryv1.SchemaCandidate{
		cand(commonSubject, "syntax = \"proto3\";\npackage cairn.test.deps;\nmessage Money { Cents units = 1; }\n", nil),
		cand(orderSubject, orderV1, moneyRef),
	}})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range resp.GetVerdicts() {
		if v.GetVerdict() != registryv1.Verdict_VERDICT_INVALID || len(v.GetMessages()) == 0 {
			t.Errorf("verdict %d on a set whose import does not compile: %v", i, v)
		}
	}
	resp, err = g.client.CheckSchemas(ctx, &registryv1.CheckSchemasRequest{Schemas: []*registryv1.SchemaCandidate{
		cand(orderSubject, orderIDChanged, moneyRef),
	}})
	if err != nil {
		t.Fatal(err)
	}
	if v := resp.GetVerdicts()[0]; v.GetVerdict() != registryv1.Verdict_VERDICT_INCOMPATIBLE || len(v.GetMessages()) == 0 || v.GetVersion() != 0 {
		t.Errorf("an incompatible change: %v", v)
	}

	// Nothing was registered.
	versions, err := g.client.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: orderSubject})
	if err != nil || len(versions.GetVersions()) != 1 {
		t.Errorf("versions of %s after the checks: %v, %v; want one", orderSubject, versions, err)
	}
	if _, err := g.client.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: "cairn.test.v1.Refund"}); err == nil {
		t.Error("a checked new subject exists")
	}
	// An empty set is an invalid request.
	_, err = g.client.CheckSchemas(ctx, &registryv1.CheckSchemasRequest{})
	checkStatus(t, err, wantStatus{code: codes.InvalidArgument, violations: []string{"schemas"}})
}
