package regclient

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/reporter"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TypeProtobuf is the only schema type Cairn's registry holds.
const TypeProtobuf = "PROTOBUF"

// Reference names a schema that a schema imports: Name is the import path
// used in the importing file, Subject and Version say which registered
// schema it is.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// Schema is a registered schema: immutable once built, safe for concurrent
// use.
type Schema struct {
	ID         int32
	Type       string
	Text       string
	References []Reference
	// File is the compiled schema; its imports are resolved.
	File protoreflect.FileDescriptor
	// proto is File as a descriptor proto, without source info.
	proto *descriptorpb.FileDescriptorProto
	// imports are the schemas that References name, compiled.
	imports []Dependency
	// fingerprint identifies the schema's content: the same content is the
	// same schema, whatever its formatting.
	fingerprint string
	// canonical is the fingerprint of the schema's canonical form,
	// computed once when first asked for.
	canonical     string
	canonicalOnce sync.Once
	// Metadata and RuleSet are Confluent's data contract parts of the
	// schema, kept as the client sent them (compact JSON), or nil.
	Metadata, RuleSet json.RawMessage
}

// Identity is what makes two registered schemas the same: the content's
// fingerprint (canonical when normalize) and the metadata and rule set,
// which, as in Confluent, make another schema when they differ.
func (s *Schema) Identity(normalize bool) string {
	fp := s.fingerprint
	if normalize {
		fp = s.CanonicalFingerprint()
	}
	if len(s.Metadata) == 0 && len(s.RuleSet) == 0 {
		return fp
	}
	h := sha256.New()
	io.WriteString(h, fp+"\x00")
	h.Write(s.Metadata)
	io.WriteString(h, "\x00")
	h.Write(s.RuleSet)
	return fp + "+" + hex.EncodeToString(h.Sum(nil))
}

// Fingerprint identifies the schema's content, references included: two
// schemas with the same fingerprint are the same schema, whatever their
// formatting.
func (s *Schema) Fingerprint() string { return s.fingerprint }

// Serialized returns the schema as a base64 FileDescriptorProto, the
// `format=serialized` form of Confluent's API.
func (s *Schema) Serialized() string {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(s.proto)
	if err != nil {
		return ""
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Dependency is a compiled schema and the import path its importer knows
// it by.
type Dependency struct {
	Name   string
	Schema *Schema
}

// Compile parses text, either .proto source or a base64 FileDescriptorProto,
// with its references already resolved to schemas. The returned schema has
// no ID or References yet: the caller sets them. Failures are *Error with
// CodeInvalidSchema.
func Compile(text string, deps []Dependency) (*Schema, error) {
	fdp, err := parseText(mainPath, text, deps)
	if err != nil {
		if b, derr := base64.StdEncoding.DecodeString(strings.TrimSpace(text)); derr == nil {
			fdp = new(descriptorpb.FileDescriptorProto)
			if uerr := proto.Unmarshal(b, fdp); uerr != nil || fdp.GetName() == "" {
				return nil, Errorf(CodeInvalidSchema, "invalid schema: %v", err)
			}
		} else {
			return nil, Errorf(CodeInvalidSchema, "invalid schema: %v", err)
		}
	}
	fdp.SourceCodeInfo = nil
	if fdp, err = withTypedOptions(fdp); err != nil {
		return nil, Errorf(CodeInvalidSchema, "invalid schema: %v", err)
	}
	files := new(protoregistry.Files)
	if err := registerDeps(files, deps, make(map[string]bool)); err != nil {
		return nil, Errorf(CodeInvalidSchema, "invalid schema reference: %v", err)
	}
	fd, err := protodesc.NewFile(fdp, resolver{files})
	if err != nil {
		return nil, Errorf(CodeInvalidSchema, "invalid schema: %v", err)
	}
	s := &Schema{Type: TypeProtobuf, Text: text, File: fd, proto: fdp, imports: deps}
	s.fingerprint = fingerprint(fdp, deps)
	return s, nil
}

// parseText compiles .proto source with protocompile, resolving imports
// among deps and the well-known google/protobuf files.
func parseText(path, text string, deps []Dependency) (*descriptorpb.FileDescriptorProto, error) {
	byName := make(map[string]*descriptorpb.FileDescriptorProto)
	var collect func([]Dependency)
	collect = func(ds []Dependency) {
		for _, d := range ds {
			if _, ok := byName[d.Name]; ok {
				continue
			}
			fdp := proto.Clone(d.Schema.proto).(*descriptorpb.FileDescriptorProto)
			fdp.Name = proto.String(d.Name)
			byName[d.Name] = fdp
			collect(d.Schema.imports)
		}
	}
	collect(deps)
	var errs []string
	c := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(protocompile.ResolverFunc(func(name string) (protocompile.SearchResult, error) {
			if name == path {
				return protocompile.SearchResult{Source: strings.NewReader(text)}, nil
			}
			if fdp, ok := byName[name]; ok {
				return protocompile.SearchResult{Proto: fdp}, nil
			}
			return protocompile.SearchResult{}, fmt.Errorf("import %q is neither a google/protobuf file nor a reference of the schema", name)
		})),
		Reporter: reporter.NewReporter(func(err reporter.ErrorWithPos) error {
			errs = append(errs, err.Error())
			return nil
		}, nil),
		RetainASTs: false,
	}
	files, err := c.Compile(context.Background(), path)
	if len(errs) > 0 {
		return nil, errors.New(strings.Join(errs, "; "))
	}
	if err != nil {
		return nil, err
	}
	return protodesc.ToFileDescriptorProto(files[0]), nil
}

// withTypedOptions re-reads fdp so that options whose extensions this binary
// knows (protovalidate's rules, Cairn's event options) are typed rather
// than unknown bytes.
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

// registerDeps adds deps and, first, their own dependencies to files, each
// under the import path it is referenced by.
func registerDeps(files *protoregistry.Files, deps []Dependency, seen map[string]bool) error {
	for _, d := range deps {
		if seen[d.Name] {
			continue
		}
		seen[d.Name] = true
		if err := registerDeps(files, d.Schema.imports, seen); err != nil {
			return err
		}
		fdp := proto.Clone(d.Schema.proto).(*descriptorpb.FileDescriptorProto)
		fdp.Name = proto.String(d.Name)
		fd, err := protodesc.NewFile(fdp, resolver{files})
		if err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
		if err := files.RegisterFile(fd); err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
	}
	return nil
}

// fingerprint hashes the schema's content and its references' contents.
func fingerprint(fdp *descriptorpb.FileDescriptorProto, deps []Dependency) string {
	c := proto.Clone(fdp).(*descriptorpb.FileDescriptorProto)
	c.Name = nil
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	h := sha256.New()
	h.Write(b)
	for _, d := range deps {
		io.WriteString(h, "\x00"+d.Name+"\x00"+d.Schema.fingerprint)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// resolver finds imports among files, and the built-in files among those
// compiled into this binary.
type resolver struct{ files *protoregistry.Files }

func (r resolver) FindFileByPath(path string) (protoreflect.FileDescriptor, error) {
	if builtin(path) {
		return protoregistry.GlobalFiles.FindFileByPath(path)
	}
	return r.files.FindFileByPath(path)
}

func (r resolver) FindDescriptorByName(name protoreflect.FullName) (protoreflect.Descriptor, error) {
	if d, err := r.files.FindDescriptorByName(name); err == nil {
		return d, nil
	}
	return protoregistry.GlobalFiles.FindDescriptorByName(name)
}

// builtin reports whether path is resolved without a reference, as in
// Confluent's registry.
func builtin(path string) bool {
	return strings.HasPrefix(path, "google/protobuf/") || strings.HasPrefix(path, "google/type/")
}

// mainPath is the file name a schema is compiled under when it is not
// imported. It only needs to differ from the import paths of references.
const mainPath = "cairn-registry/schema.proto"

// SubjectVersion is one version of a subject.
type SubjectVersion struct {
	Subject string
	Version int
	Schema  *Schema
	Deleted bool
}

// SchemaInput is a schema as a client sends it.
type SchemaInput struct {
	// Type is the schema type; empty means PROTOBUF.
	Type string
	// Text is .proto source or a base64 FileDescriptorProto.
	Text       string
	References []Reference
	// ID and Version are set only in IMPORT mode, to keep another
	// registry's ids.
	ID      int32
	Version int
	// Metadata and RuleSet are stored with the schema and returned with it.
	Metadata, RuleSet json.RawMessage
	// Normalize compares the schema with registered ones in canonical form
	// (see Schema.CanonicalFingerprint), as Confluent's normalize=true.
	Normalize bool
}

func walkMessages(msgs protoreflect.MessageDescriptors, fn func(protoreflect.MessageDescriptor)) {
	for i := range msgs.Len() {
		md := msgs.Get(i)
		if md.IsMapEntry() {
			continue
		}
		fn(md)
		walkMessages(md.Messages(), fn)
	}
}
