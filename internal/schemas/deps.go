package schemas

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/jhump/protoreflect/v2/protoprint"
)

// DepPaths are the import paths a team's schemas take from Cairn: its event
// options and protovalidate's rules.
var DepPaths = []string{"cairn/options/v1/options.proto", "buf/validate/validate.proto"}

// WriteDeps prints the files of DepPaths from the image into dir, each under
// its import path, so that buf can compile a team's module offline against
// the same files the registry and the gateway use. It returns the import
// paths written; a file whose content is already there is left untouched.
func WriteDeps(dir string) ([]string, error) {
	all, err := Files()
	if err != nil {
		return nil, err
	}
	var written []string
	for _, want := range DepPaths {
		found := false
		for _, fd := range all {
			if fd.Path() != want {
				continue
			}
			found = true
			var buf bytes.Buffer
			if err := (&protoprint.Printer{}).PrintProtoFile(fd, &buf); err != nil {
				return written, fmt.Errorf("print %s: %w", want, err)
			}
			path := filepath.Join(dir, filepath.FromSlash(want))
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return written, fmt.Errorf("write %s: %w", want, err)
			}
			if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, buf.Bytes()) {
				written = append(written, want)
				continue
			}
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				return written, fmt.Errorf("write %s: %w", want, err)
			}
			written = append(written, want)
		}
		if !found {
			return written, fmt.Errorf("the schema image carries no %s", want)
		}
	}
	return written, nil
}
