package regclient

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"slices"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/descriptorpb"
)

// CanonicalFingerprint identifies the schema's content in canonical form, as
// Confluent's normalize=true compares protobuf schemas: besides formatting,
// the order in which fields, messages, enums, enum values, services,
// methods, extensions and imports are declared does not matter. It covers
// the references' canonical forms too.
func (s *Schema) CanonicalFingerprint() string {
	s.canonicalOnce.Do(func() { s.canonical = canonicalFingerprint(s.proto, s.imports) })
	return s.canonical
}

// canonicalFingerprint hashes fdp in canonical order, and the references'
// canonical fingerprints.
func canonicalFingerprint(fdp *descriptorpb.FileDescriptorProto, deps []Dependency) string {
	c := proto.Clone(fdp).(*descriptorpb.FileDescriptorProto)
	c.Name = nil
	canonicalFile(c)
	b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	h := sha256.New()
	h.Write(b)
	deps = slices.Clone(deps)
	slices.SortFunc(deps, func(a, b Dependency) int { return cmp.Compare(a.Name, b.Name) })
	for _, d := range deps {
		io.WriteString(h, "\x00"+d.Name+"\x00"+d.Schema.CanonicalFingerprint())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalFile sorts f's declarations in place. Only lists nothing refers
// to by index are sorted: fields keep their oneof_index, since oneofs stay
// in place, and imports stay as they are when some are public or weak.
func canonicalFile(f *descriptorpb.FileDescriptorProto) {
	if len(f.PublicDependency) == 0 && len(f.WeakDependency) == 0 {
		slices.Sort(f.Dependency)
	}
	canonicalMessages(f.MessageType)
	canonicalEnums(f.EnumType)
	canonicalFields(f.Extension)
	slices.SortFunc(f.Service, func(a, b *descriptorpb.ServiceDescriptorProto) int { return cmp.Compare(a.GetName(), b.GetName()) })
	for _, s := range f.Service {
		slices.SortFunc(s.Method, func(a, b *descriptorpb.MethodDescriptorProto) int { return cmp.Compare(a.GetName(), b.GetName()) })
	}
}

func canonicalMessages(ms []*descriptorpb.DescriptorProto) {
	slices.SortFunc(ms, func(a, b *descriptorpb.DescriptorProto) int { return cmp.Compare(a.GetName(), b.GetName()) })
	for _, m := range ms {
		canonicalFields(m.Field)
		canonicalFields(m.Extension)
		canonicalMessages(m.NestedType)
		canonicalEnums(m.EnumType)
		slices.SortFunc(m.ReservedRange, func(a, b *descriptorpb.DescriptorProto_ReservedRange) int {
			return cmp.Compare(a.GetStart(), b.GetStart())
		})
		slices.SortFunc(m.ExtensionRange, func(a, b *descriptorpb.DescriptorProto_ExtensionRange) int {
			return cmp.Compare(a.GetStart(), b.GetStart())
		})
		slices.Sort(m.ReservedName)
	}
}

// canonicalFields orders fields (or extensions) by extendee, then number.
func canonicalFields(fs []*descriptorpb.FieldDescriptorProto) {
	slices.SortFunc(fs, func(a, b *descriptorpb.FieldDescriptorProto) int {
		return cmp.Or(cmp.Compare(a.GetExtendee(), b.GetExtendee()), cmp.Compare(a.GetNumber(), b.GetNumber()))
	})
}

func canonicalEnums(es []*descriptorpb.EnumDescriptorProto) {
	slices.SortFunc(es, func(a, b *descriptorpb.EnumDescriptorProto) int { return cmp.Compare(a.GetName(), b.GetName()) })
	for _, e := range es {
		// Aliases share a number: keep their relative order, and the first
		// value (the default in proto3) first.
		if len(e.Value) > 1 {
			first := e.Value[0]
			slices.SortStableFunc(e.Value[1:], func(a, b *descriptorpb.EnumValueDescriptorProto) int {
				return cmp.Compare(a.GetNumber(), b.GetNumber())
			})
			e.Value[0] = first
		}
		slices.SortFunc(e.ReservedRange, func(a, b *descriptorpb.EnumDescriptorProto_EnumReservedRange) int {
			return cmp.Compare(a.GetStart(), b.GetStart())
		})
		slices.Sort(e.ReservedName)
	}
}
