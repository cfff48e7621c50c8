package registry_test

import (
	"testing"

	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// expectCode fails t unless err is a registry error with the given code.
func expectCode(t *testing.T, what string, err error, code int) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want %d", what, code)
		return
	}
	if got := registry.AsError(err).Code; got != code {
		t.Errorf("%s: error %d (%v), want %d", what, got, err, code)
	}
}

// These follow Confluent's answers where they are not obvious.

func TestCheckCompatibilityWithoutVersions(t *testing.T) {
	t.Parallel()
	reg, _, _ := openRegistry(t)
	ctx := t.Context()
	in := regclient.SchemaInput{Text: plainProto}
	for _, version := range []int{-1, 0} {
		problems, err := reg.CheckCompatibility(ctx, "fresh", version, in)
		if err != nil || len(problems) != 0 {
			t.Errorf("version %d of a subject without versions: %v, %v; want compatible", version, problems, err)
		}
	}
	_, err := reg.CheckCompatibility(ctx, "fresh", 1, in)
	expectCode(t, "version 1 of a subject without versions", err, regclient.CodeSubjectNotFound)

	// A subject whose versions are all soft-deleted has none to compare with.
	if _, err := reg.Register(ctx, "gone", in); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.DeleteSubject(ctx, "gone", false); err != nil {
		t.Fatal(err)
	}
	if problems, err := reg.CheckCompatibility(ctx, "gone", -1, regclient.SchemaInput{Text: "syntax = \"proto3\";\npackage other;\nmessage Pong {}\n"}); err != nil || len(problems) != 0 {
		t.Errorf("latest of a soft-deleted subject: %v, %v; want compatible", problems, err)
	}
}

func TestDeleteSettingNotSet(t *testing.T) {
	t.Parallel()
	reg, _, _ := openRegistry(t)
	ctx := t.Context()
	_, err := reg.DeleteConfig(ctx, "unset")
	expectCode(t, "delete a level never set", err, regclient.CodeSubjectNotFound)
	_, err = reg.DeleteMode(ctx, "unset")
	expectCode(t, "delete a mode never set", err, regclient.CodeSubjectNotFound)

	// The global settings always have a value to reset.
	if c, err := reg.DeleteConfig(ctx, ""); err != nil || c.Compatibility != registry.DefaultCompatibility {
		t.Errorf("reset the global level: %+v, %v", c, err)
	}
	if _, err := reg.SetCompatibility(ctx, "set", "NONE"); err != nil {
		t.Fatal(err)
	}
	if c, err := reg.DeleteConfig(ctx, "set"); err != nil || c.Compatibility != "NONE" {
		t.Errorf("delete a level set: %+v, %v", c, err)
	}
}

func TestDeleteVersionTwice(t *testing.T) {
	t.Parallel()
	reg, _, _ := openRegistry(t)
	ctx := t.Context()
	if _, err := reg.Register(ctx, "s", regclient.SchemaInput{Text: plainProto}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.DeleteVersion(ctx, "s", 1, false); err != nil {
		t.Fatal(err)
	}
	_, err := reg.DeleteVersion(ctx, "s", 1, false)
	expectCode(t, "soft-delete a soft-deleted version", err, regclient.CodeVersionSoftDeleted)
	_, err = reg.DeleteVersion(ctx, "s", 2, false)
	expectCode(t, "soft-delete a version that never was", err, regclient.CodeVersionNotFound)
	if v, err := reg.DeleteVersion(ctx, "s", 1, true); err != nil || v != 1 {
		t.Errorf("permanently delete a soft-deleted version: %d, %v", v, err)
	}
}

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]int{"1": 1, "latest": -1, "-1": -1, "2147483647": 2147483647} {
		if v, err := registry.ParseVersion(s); err != nil || v != want {
			t.Errorf("ParseVersion(%q) = %d, %v; want %d", s, v, err, want)
		}
	}
	for _, s := range []string{"0", "-2", "2147483648", "99999999999", "1.0", "one", ""} {
		_, err := registry.ParseVersion(s)
		expectCode(t, "ParseVersion("+s+")", err, regclient.CodeInvalidVersion)
	}
}
