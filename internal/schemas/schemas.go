// Package schemas holds Cairn's own schemas as a buf image, built by
// `make generate` and embedded, so that `cairn dev` and the tests can
// register them, with their comments, in a schema registry.
package schemas

import (
	_ "embed"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
)

//go:embed cairn.binpb
var image []byte

// Files returns every file of the image, each after the files it imports:
// Cairn's schemas, protovalidate's and the well-known types they use.
func Files() ([]protoreflect.FileDescriptor, error) {
	// A buf image is wire-compatible with a FileDescriptorSet.
	var set descriptorpb.FileDescriptorSet
	if err := proto.Unmarshal(image, &set); err != nil {
		return nil, fmt.Errorf("schema image: %w", err)
	}
	files, err := protodesc.NewFiles(&set)
	if err != nil {
		return nil, fmt.Errorf("schema image: %w", err)
	}
	out := make([]protoreflect.FileDescriptor, 0, len(set.GetFile()))
	for _, fdp := range set.GetFile() {
		fd, err := files.FindFileByPath(fdp.GetName())
		if err != nil {
			return nil, fmt.Errorf("schema image: %w", err)
		}
		out = append(out, fd)
	}
	return out, nil
}

// Hunt returns the files of package cairn.hunt.v1, the game's events, in
// dependency order.
func Hunt() ([]protoreflect.FileDescriptor, error) {
	all, err := Files()
	if err != nil {
		return nil, err
	}
	var hunt []protoreflect.FileDescriptor
	for _, fd := range all {
		if strings.HasPrefix(fd.Path(), "cairn/hunt/v1/") {
			hunt = append(hunt, fd)
		}
	}
	return hunt, nil
}

// Topics returns the topics the events declared in files are produced to,
// sorted and without repeats.
func Topics(files []protoreflect.FileDescriptor) []string {
	var topics []string
	for _, fd := range files {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			opts, ok := proto.GetExtension(msgs.Get(i).Options(), optionsv1.E_Event).(*optionsv1.EventOptions)
			if ok && opts.GetTopic() != "" && !slices.Contains(topics, opts.GetTopic()) {
				topics = append(topics, opts.GetTopic())
			}
		}
	}
	slices.Sort(topics)
	return topics
}
