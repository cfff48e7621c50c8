// Command protodeps writes the .proto sources that Cairn's schemas import but
// that no one may fetch from the Buf Schema Registry on our machines:
// protovalidate's buf/validate/validate.proto. The source is printed from the
// descriptor compiled into protovalidate's Go module, so the file buf reads is
// exactly the version our Go code validates with.
//
// Usage:
//
//	go run ./cmd/protodeps -out build/protodeps
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/jhump/protoreflect/v2/protoprint"
	"google.golang.org/protobuf/reflect/protoreflect"
)

func main() {
	out := flag.String("out", "build/protodeps", "directory to write the .proto files into")
	flag.Parse()
	if err := run(*out, validate.File_buf_validate_validate_proto); err != nil {
		fmt.Fprintln(os.Stderr, "protodeps:", err)
		os.Exit(1)
	}
}

func run(out string, files ...protoreflect.FileDescriptor) error {
	for _, fd := range files {
		var buf bytes.Buffer
		p := protoprint.Printer{}
		if err := p.PrintProtoFile(fd, &buf); err != nil {
			return fmt.Errorf("print %s: %w", fd.Path(), err)
		}
		path := filepath.Join(out, filepath.FromSlash(fd.Path()))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		// Write only when the content changed, so buf's and make's caches hold.
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, buf.Bytes()) {
			continue
		}
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
