// Package schemaload turns what a schema owner points Cairn at — a buf
// module directory, a buf image, or .proto files — into compiled file
// descriptors, ready to check against a registry and to push.
//
// Imports of Cairn's event options (cairn/options/v1/options.proto),
// protovalidate (buf/validate/validate.proto) and google/* are always
// resolved from the copies compiled into this binary, which are the copies
// the registry and the gateway use; nothing is fetched, and a local copy of
// those files (such as the one `cairn schema deps` writes) is only for buf.
package schemaload

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"buf.build/go/protovalidate"
	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"go.yaml.in/yaml/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	// The carried files register themselves in protoregistry.GlobalFiles.
	_ "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"

	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
)

// Set is a schema owner's compiled files.
type Set struct {
	// Files are the owner's files, each after the owner's files it
	// imports. Carried files (see Carried) are not among them, though
	// Files import them.
	Files []protoreflect.FileDescriptor
	// Sources maps each file's import path to where it was read: a path
	// on disk, or an image's path and the file's name in it.
	Sources map[string]string
}

// InputError says a path given to Load cannot be read as a schema input:
// it does not exist, holds no schemas, or is not an image.
type InputError struct {
	Path string
	Err  error
}

func (e *InputError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// SchemaError says the inputs were read but their schemas are wrong: a file
// does not compile, or an event's options or rules make no sense. Problems
// holds one line per problem, each starting with the file (and, for the
// compiler's, file:line:col).
type SchemaError struct {
	Problems []string
}

func (e *SchemaError) Error() string {
	return "the schemas are not valid:\n  " + strings.Join(e.Problems, "\n  ")
}

// Carried reports whether Cairn resolves the import path from the copies
// this binary carries rather than from the owner's files.
func Carried(path string) bool {
	return path == "cairn/options/v1/options.proto" ||
		path == "buf/validate/validate.proto" ||
		strings.HasPrefix(path, "google/")
}

// CarriedFile returns the carried copy of an import path.
func CarriedFile(path string) (protoreflect.FileDescriptor, error) {
	if !Carried(path) {
		return nil, fmt.Errorf("%s is not a file Cairn carries", path)
	}
	fd, err := protoregistry.GlobalFiles.FindFileByPath(path)
	if err != nil {
		return nil, fmt.Errorf("%s: Cairn carries no copy of it: %w", path, err)
	}
	return fd, nil
}

// Load reads each path — a directory (a buf module with buf.yaml, or a
// directory of .proto files), a buf image (.binpb, .bin or .json, as `buf
// build -o` writes), or a .proto file — and compiles the owner's files. It
// returns an *InputError for a path it cannot use and a *SchemaError for
// schemas that are wrong.
func Load(ctx context.Context, paths ...string) (*Set, error) {
	if len(paths) == 0 {
		return nil, errors.New("no schema paths given")
	}
	var (
		fdps    []*descriptorpb.FileDescriptorProto
		sources = make(map[string]string)
		c       compilation
	)
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, &InputError{Path: p, Err: errors.Unwrap(err)}
		}
		switch {
		case info.IsDir():
			if err := c.addDir(p); err != nil {
				return nil, err
			}
		case strings.HasSuffix(p, ".proto"):
			if err := c.addFile(p); err != nil {
				return nil, err
			}
		case strings.HasSuffix(p, ".binpb"), strings.HasSuffix(p, ".bin"), strings.HasSuffix(p, ".json"):
			files, err := readImage(p)
			if err != nil {
				return nil, err
			}
			for _, fdp := range files {
				if Carried(fdp.GetName()) {
					continue
				}
				if _, ok := sources[fdp.GetName()]; ok {
					return nil, &InputError{Path: p, Err: fmt.Errorf("%s is given twice", fdp.GetName())}
				}
				sources[fdp.GetName()] = p + ":" + fdp.GetName()
				fdps = append(fdps, fdp)
			}
		default:
			return nil, &InputError{Path: p, Err: errors.New("not a directory, a .proto file or a buf image (.binpb, .bin, .json)")}
		}
	}
	compiled, err := c.compile(ctx)
	if err != nil {
		return nil, err
	}
	for _, fdp := range compiled {
		if _, ok := sources[fdp.GetName()]; ok {
			return nil, &InputError{Path: c.disk[fdp.GetName()], Err: fmt.Errorf("%s is given twice", fdp.GetName())}
		}
		sources[fdp.GetName()] = c.disk[fdp.GetName()]
		fdps = append(fdps, fdp)
	}
	if len(fdps) == 0 {
		return nil, &InputError{Path: strings.Join(paths, " "), Err: errors.New("no schema files of the team's own (only files Cairn carries)")}
	}
	files, err := link(fdps, sources)
	if err != nil {
		return nil, err
	}
	set := &Set{Files: files, Sources: sources}
	if problems := checkEvents(set); len(problems) > 0 {
		return nil, &SchemaError{Problems: problems}
	}
	return set, nil
}

// compilation gathers .proto sources and the roots their import paths are
// relative to.
type compilation struct {
	roots []string          // import roots, on disk
	names []string          // import paths to compile
	disk  map[string]string // import path -> path on disk
}

func (c *compilation) add(root, file string) error {
	rel, err := filepath.Rel(root, file)
	if err != nil {
		return err
	}
	name := filepath.ToSlash(rel)
	if Carried(name) {
		return nil
	}
	if c.disk == nil {
		c.disk = make(map[string]string)
	}
	if have, ok := c.disk[name]; ok {
		if have == file {
			return nil
		}
		return &InputError{Path: file, Err: fmt.Errorf("import path %s is also %s", name, have)}
	}
	c.disk[name] = file
	c.names = append(c.names, name)
	if !slices.Contains(c.roots, root) {
		c.roots = append(c.roots, root)
	}
	return nil
}

// addDir adds every .proto file of a buf module, or of a plain directory.
func (c *compilation) addDir(dir string) error {
	roots, err := moduleRoots(dir)
	if err != nil {
		return err
	}
	if roots == nil {
		roots = []string{dir}
	}
	found := 0
	for _, root := range roots {
		if _, err := os.Stat(root); errors.Is(err, fs.ErrNotExist) && len(roots) > 1 {
			// A module not written yet, such as cairn-deps before
			// `cairn schema deps`: its files are carried anyway.
			continue
		}
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(p, ".proto") {
				return nil
			}
			found++
			return c.add(root, p)
		})
		if err != nil {
			var ie *InputError
			if errors.As(err, &ie) {
				return err
			}
			return &InputError{Path: root, Err: err}
		}
	}
	if found == 0 {
		return &InputError{Path: dir, Err: errors.New("no buf.yaml and no .proto files here")}
	}
	return nil
}

// addFile adds one .proto file, named relative to the root of the buf
// module that holds it, or else to the working directory (or, outside it,
// to its own directory).
func (c *compilation) addFile(file string) error {
	abs, err := filepath.Abs(file)
	if err != nil {
		return &InputError{Path: file, Err: err}
	}
	for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
		roots, err := moduleRoots(dir)
		if err != nil {
			return err
		}
		for _, root := range roots {
			if within(abs, root) {
				return c.add(root, abs)
			}
		}
		if roots != nil || filepath.Dir(dir) == dir {
			break
		}
	}
	if wd, err := os.Getwd(); err == nil && within(abs, wd) {
		return c.add(wd, abs)
	}
	return c.add(filepath.Dir(abs), abs)
}

func within(file, dir string) bool {
	rel, err := filepath.Rel(dir, file)
	return err == nil && !strings.HasPrefix(rel, "..")
}

// moduleRoots reads dir/buf.yaml and returns the directories its modules
// are rooted at, or nil when dir has no buf.yaml.
func moduleRoots(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "buf.yaml"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &InputError{Path: dir, Err: err}
	}
	var cfg struct {
		Version string `yaml:"version"`
		Modules []struct {
			Path string `yaml:"path"`
		} `yaml:"modules"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return nil, &InputError{Path: filepath.Join(dir, "buf.yaml"), Err: err}
	}
	if cfg.Version != "v2" || len(cfg.Modules) == 0 {
		return []string{dir}, nil
	}
	roots := make([]string, 0, len(cfg.Modules))
	for _, m := range cfg.Modules {
		roots = append(roots, filepath.Join(dir, filepath.FromSlash(m.Path)))
	}
	return roots, nil
}

// compile compiles the gathered sources and returns them, with the owner's
// files they import, as descriptors.
func (c *compilation) compile(ctx context.Context) ([]*descriptorpb.FileDescriptorProto, error) {
	if len(c.names) == 0 {
		return nil, nil
	}
	var problems []string
	comp := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(protocompile.CompositeResolver{
			protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
				if !Carried(path) {
					return protocompile.SearchResult{}, protoregistry.NotFound
				}
				fd, err := CarriedFile(path)
				if err != nil {
					return protocompile.SearchResult{}, err
				}
				return protocompile.SearchResult{Desc: fd}, nil
			}),
			&protocompile.SourceResolver{ImportPaths: c.roots},
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			pos := err.GetPosition()
			file := pos.Filename
			if d, ok := c.disk[file]; ok {
				file = d
			}
			problems = append(problems, fmt.Sprintf("%s:%d:%d: %v", file, pos.Line, pos.Col, err.Unwrap()))
			return nil
		}, nil),
	}
	files, err := comp.Compile(ctx, c.names...)
	if len(problems) > 0 {
		return nil, &SchemaError{Problems: problems}
	}
	if err != nil {
		return nil, &SchemaError{Problems: []string{err.Error()}}
	}
	var out []*descriptorpb.FileDescriptorProto
	seen := make(map[string]bool)
	var collect func(fd protoreflect.FileDescriptor)
	collect = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] || Carried(fd.Path()) {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			collect(imports.Get(i).FileDescriptor)
		}
		if _, ok := c.disk[fd.Path()]; !ok {
			// An owner's file found through an import, not named.
			c.disk[fd.Path()] = fd.Path()
		}
		out = append(out, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range files {
		collect(fd)
	}
	return out, nil
}

// readImage reads a buf image, binary or JSON. An image is a
// FileDescriptorSet with buf's extensions, which are ignored.
func readImage(path string) ([]*descriptorpb.FileDescriptorProto, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &InputError{Path: path, Err: err}
	}
	var set descriptorpb.FileDescriptorSet
	if strings.HasSuffix(path, ".json") {
		if !json.Valid(b) {
			return nil, &InputError{Path: path, Err: errors.New("not a buf image: not valid JSON")}
		}
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(b, &set)
	} else {
		err = proto.Unmarshal(b, &set)
	}
	if err != nil {
		return nil, &InputError{Path: path, Err: fmt.Errorf("not a buf image: %w", err)}
	}
	if len(set.GetFile()) == 0 {
		return nil, &InputError{Path: path, Err: errors.New("not a buf image: it holds no files")}
	}
	for _, fdp := range set.GetFile() {
		if fdp.GetName() == "" {
			return nil, &InputError{Path: path, Err: errors.New("not a buf image: a file has no name")}
		}
	}
	return set.GetFile(), nil
}

// link builds file descriptors from fdps, whose imports are among fdps or
// carried, each after the files it imports.
func link(fdps []*descriptorpb.FileDescriptorProto, sources map[string]string) ([]protoreflect.FileDescriptor, error) {
	byName := make(map[string]*descriptorpb.FileDescriptorProto, len(fdps))
	for _, fdp := range fdps {
		byName[fdp.GetName()] = fdp
	}
	local := new(protoregistry.Files)
	r := resolver{local}
	var (
		out      []protoreflect.FileDescriptor
		problems []string
		state    = make(map[string]int) // 1 visiting, 2 done
	)
	var visit func(fdp *descriptorpb.FileDescriptorProto) bool
	visit = func(fdp *descriptorpb.FileDescriptorProto) bool {
		name := fdp.GetName()
		switch state[name] {
		case 1:
			problems = append(problems, fmt.Sprintf("%s: import cycle", sources[name]))
			return false
		case 2:
			return true
		}
		state[name] = 1
		for _, dep := range fdp.GetDependency() {
			if Carried(dep) {
				continue
			}
			d, ok := byName[dep]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: imports %s, which is neither among the inputs nor carried by Cairn", sources[name], dep))
				return false
			}
			if !visit(d) {
				return false
			}
		}
		state[name] = 2
		typed, err := withTypedOptions(fdp)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", sources[name], err))
			return false
		}
		fd, err := protodesc.NewFile(typed, r)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", sources[name], err))
			return false
		}
		if err := local.RegisterFile(fd); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", sources[name], err))
			return false
		}
		out = append(out, fd)
		return true
	}
	for _, fdp := range fdps {
		visit(fdp)
	}
	if len(problems) > 0 {
		return nil, &SchemaError{Problems: problems}
	}
	return out, nil
}

// withTypedOptions re-reads fdp so that the options this binary knows
// (Cairn's event options, protovalidate's rules) are typed, not unknown
// bytes.
func withTypedOptions(fdp *descriptorpb.FileDescriptorProto) (*descriptorpb.FileDescriptorProto, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(fdp)
	if err != nil {
		return nil, err
	}
	out := new(descriptorpb.FileDescriptorProto)
	if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// resolver finds the owner's files among those linked so far and the
// carried files among this binary's.
type resolver struct{ local *protoregistry.Files }

func (r resolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if Carried(path) {
		return CarriedFile(path)
	}
	return r.local.FindFileByPath(path)
}

func (r resolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.local.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

// Events returns the owner's event messages: those with the
// (cairn.options.v1.event) option, top-level, in file order.
func (s *Set) Events() []protoreflect.MessageDescriptor {
	var out []protoreflect.MessageDescriptor
	for _, fd := range s.Files {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			if proto.HasExtension(msgs.Get(i).Options(), optionsv1.E_Event) {
				out = append(out, msgs.Get(i))
			}
		}
	}
	return out
}

// EventOptions returns md's event options, or nil.
func EventOptions(md protoreflect.MessageDescriptor) *optionsv1.EventOptions {
	if !proto.HasExtension(md.Options(), optionsv1.E_Event) {
		return nil
	}
	opts, _ := proto.GetExtension(md.Options(), optionsv1.E_Event).(*optionsv1.EventOptions)
	return opts
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

// checkEvents checks what the registry and the gateway will check of each
// event's options, and that its protovalidate rules compile.
func checkEvents(s *Set) []string {
	var problems []string
	events := s.Events()
	for _, md := range events {
		where := s.Sources[md.ParentFile().Path()] + ": " + string(md.FullName())
		opts := EventOptions(md)
		if !topicName.MatchString(opts.GetTopic()) {
			problems = append(problems, fmt.Sprintf("%s: event option topic %q is not a valid Kafka topic name", where, opts.GetTopic()))
		}
		if p := checkStringField(md, "key_field", opts.GetKeyField(), true); p != "" {
			problems = append(problems, where+": "+p)
		}
		if p := checkStringField(md, "actor_field", opts.GetActorField(), false); p != "" {
			problems = append(problems, where+": "+p)
		}
		switch {
		case opts.GetPartitions() < 0:
			problems = append(problems, fmt.Sprintf("%s: event option partitions is %d; want a positive count, or 0 for the broker's default", where, opts.GetPartitions()))
		case opts.GetReplicationFactor() < 0:
			problems = append(problems, fmt.Sprintf("%s: event option replication_factor is %d; want a positive count, or 0 for the broker's default", where, opts.GetReplicationFactor()))
		case opts.GetRetentionMs() < -1:
			problems = append(problems, fmt.Sprintf("%s: event option retention_ms is %d; want milliseconds, -1 for forever, or 0 for the broker's default", where, opts.GetRetentionMs()))
		}
	}
	if len(events) > 0 {
		if _, err := protovalidate.New(protovalidate.WithMessageDescriptors(events...)); err != nil {
			problems = append(problems, fmt.Sprintf("protovalidate rules: %v", err))
		}
	}
	return problems
}

func checkStringField(md protoreflect.MessageDescriptor, option, name string, required bool) string {
	if name == "" {
		if required {
			return fmt.Sprintf("event option %s is required", option)
		}
		return ""
	}
	fd := md.Fields().ByName(protoreflect.Name(name))
	switch {
	case fd == nil:
		return fmt.Sprintf("event option %s names field %q, which does not exist", option, name)
	case fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated:
		return fmt.Sprintf("event option %s names field %q, which is not a singular string", option, name)
	}
	return ""
}
