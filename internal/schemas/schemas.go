// Package schemas lists the schemas compiled into Cairn, which `cairn dev`
// and the tests register at start-up.
package schemas

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	_ "github.com/cairnhq/cairn/proto/cairn/hunt/v1" // registers the hunt schemas
)

// Hunt returns the files of package cairn.hunt.v1, sorted by path.
func Hunt() []protoreflect.FileDescriptor {
	var files []protoreflect.FileDescriptor
	protoregistry.GlobalFiles.RangeFilesByPackage("cairn.hunt.v1", func(fd protoreflect.FileDescriptor) bool {
		files = append(files, fd)
		return true
	})
	slices.SortFunc(files, func(a, b protoreflect.FileDescriptor) int {
		return strings.Compare(a.Path(), b.Path())
	})
	return files
}
