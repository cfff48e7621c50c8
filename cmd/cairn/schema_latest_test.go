package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/testaddr"
	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// answerSubject is the subject whose latest version the tests make
// incompatible with the schemas this binary carries.
const answerSubject = "cairn.hunt.v1.AnswerSubmitted"

// divergedRegistry opens a registry database holding the carried hunt
// schemas and then, registered under compatibility NONE, a latest version
// of AnswerSubmitted whose clue_id is an int64: the carried schema is
// already registered (as version 1) but incompatible with the latest.
func divergedRegistry(t *testing.T) (string, *registry.Registry) {
	t.Helper()
	ctx := t.Context()
	url := "sqlite:" + filepath.Join(t.TempDir(), "diverged.db")
	db, err := sqldb.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	reg, err := registry.Open(ctx, registry.Options{DB: db})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	files, err := schemas.Hunt()
	if err != nil {
		t.Fatal(err)
	}
	if err := regclient.RegisterFiles(ctx, reg, files...); err != nil {
		t.Fatal(err)
	}
	v1, err := reg.Version(ctx, answerSubject, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	text := regexp.MustCompile(`string clue_id = 3[^;]*;`).ReplaceAllString(v1.Schema.Text, "int64 clue_id = 3;")
	if text == v1.Schema.Text {
		t.Fatalf("clue_id not found in:\n%s", v1.Schema.Text)
	}
	if _, err := reg.SetCompatibility(ctx, answerSubject, "NONE"); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Register(ctx, answerSubject, regclient.SchemaInput{Type: regclient.TypeProtobuf, Text: text, References: v1.Schema.References}); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.DeleteConfig(ctx, answerSubject); err != nil {
		t.Fatal(err)
	}
	return url, reg
}

// TestDevRefusesIncompatibleLatestVersion starts cairn dev on a database
// whose latest AnswerSubmitted is incompatible with the carried one: dev
// refuses to start, naming the subject and the incompatibility.
func TestDevRefusesIncompatibleLatestVersion(t *testing.T) {
	url, _ := divergedRegistry(t)
	var out, errOut bytes.Buffer
	// Should dev start anyway, it stops at this deadline and the test fails
	// rather than hangs.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	code := run(ctx, []string{"dev", "--gateway-addr", testaddr.Get(t), "--kafka-addr", testaddr.Get(t), "--registry-addr", testaddr.Get(t), "--admin-addr", testaddr.Get(t), "--database-url", url}, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), answerSubject) || !strings.Contains(errOut.String(), "FIELD_SCALAR_KIND_CHANGED") {
		t.Fatalf("dev exited %d, stderr:\n%s\nwant a refusal naming %s and the change", code, errOut.String(), answerSubject)
	}
}

// TestSchemaPushRefusesIncompatibleLatestVersion pushes the carried
// schemas to a registry whose latest AnswerSubmitted is incompatible with
// them: refused, naming the subject and the incompatibility.
func TestSchemaPushRefusesIncompatibleLatestVersion(t *testing.T) {
	_, reg := divergedRegistry(t)
	svc, err := registry.NewGRPCService(reg)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	registryv1.RegisterRegistryServiceServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	var out, errOut bytes.Buffer
	code := run(t.Context(), []string{"schema", "push", "--registry-addr", lis.Addr().String()}, &out, &errOut)
	if code == 0 || !strings.Contains(errOut.String(), answerSubject) || !strings.Contains(errOut.String(), "FIELD_SCALAR_KIND_CHANGED") {
		t.Fatalf("push exited %d, stderr:\n%s\nwant a refusal naming %s and the change", code, errOut.String(), answerSubject)
	}
}
