package compat

import (
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// differ collects the incompatible changes from a writer schema to a reader
// schema. One differ serves one comparison and is not shared.
type differ struct {
	writer, reader protoreflect.FileDescriptor
	// newIsReader says which side is the candidate, for the messages, which
	// speak of the old and the new schema rather than of writer and reader.
	newIsReader bool
	found       []Incompatibility
	// imported remembers, for a pair of messages from other files (writer's,
	// reader's), whether they were found compatible; a pair being compared
	// counts as compatible, which ends cycles.
	imported map[[2]protoreflect.FullName]bool
}

// diff returns the incompatible changes from writer to reader, in a fixed
// order: the package, then each writer message in declaration order, and in
// a message its oneofs, its fields by number, then its nested messages.
// newIsReader tells whether reader is the candidate.
func diff(writer, reader protoreflect.FileDescriptor, newIsReader bool) []Incompatibility {
	d := &differ{writer: writer, reader: reader, newIsReader: newIsReader}
	if writer.Package() != reader.Package() {
		o, n := oldNew(d, writer.Package(), reader.Package())
		d.add(PackageChanged, "#/", "package changed from %q to %q", o, n)
	}
	d.messages(writer.Messages(), reader.Messages(), "#")
	return d.found
}

// add records an incompatibility.
func (d *differ) add(kind Kind, path, format string, args ...any) {
	d.found = append(d.found, Incompatibility{Kind: kind, Path: path, Message: fmt.Sprintf(format, args...)})
}

// oldNew orders something of the writer's and its counterpart of the
// reader's as (old, new).
func oldNew[T any](d *differ, writer, reader T) (o, n T) {
	if d.newIsReader {
		return writer, reader
	}
	return reader, writer
}

// roles names the writer's and the reader's side: "old" or "new".
func (d *differ) roles() (writer, reader string) {
	if d.newIsReader {
		return "old", "new"
	}
	return "new", "old"
}

// messages compares the writer's messages with the reader's of the same name,
// under the path prefix of their parent ("#" at the top of the file).
func (d *differ) messages(writer, reader protoreflect.MessageDescriptors, prefix string) {
	for i := range writer.Len() {
		w := writer.Get(i)
		if w.IsMapEntry() {
			continue // compared as part of its map field
		}
		path := prefix + "/" + string(w.Name())
		r := reader.ByName(w.Name())
		if r == nil {
			// A message the new schema adds is compatible in every
			// direction: no record written as an old type needs it, and old
			// readers never look for it. Only a removal is reported.
			if d.newIsReader {
				d.add(MessageRemoved, path, "message %s of the old schema is missing from the new schema", w.FullName())
			}
			continue
		}
		d.message(w, r, path)
	}
}

// message compares two versions of one message.
func (d *differ) message(w, r protoreflect.MessageDescriptor, path string) {
	d.oneofs(w, r, path)
	d.fields(w, r, path)
	d.messages(w.Messages(), r.Messages(), path)
}

// fields compares the fields of two versions of a message by number, oneof
// members included: a field keeps its wire meaning whichever oneof holds it.
func (d *differ) fields(w, r protoreflect.MessageDescriptor, path string) {
	wr, rr := d.roles()
	for _, n := range fieldNumbers(w, r) {
		wf, rf := w.Fields().ByNumber(n), r.Fields().ByNumber(n)
		fpath := path + "/" + strconv.Itoa(int(n))
		switch {
		case rf == nil:
			if required(wf) {
				d.add(RequiredFieldRemoved, fpath, "%s is required in the %s schema but missing from the %s schema", describeField(wf), wr, rr)
			}
		case wf == nil:
			if required(rf) {
				d.add(RequiredFieldAdded, fpath, "%s is required in the %s schema but missing from the %s schema", describeField(rf), rr, wr)
			}
		default:
			d.field(wf, rf, fpath)
		}
	}
}

// fieldNumbers returns the numbers of the fields of w and r, ascending.
func fieldNumbers(w, r protoreflect.MessageDescriptor) []protoreflect.FieldNumber {
	var numbers []protoreflect.FieldNumber
	for _, m := range [...]protoreflect.MessageDescriptor{w, r} {
		for i := range m.Fields().Len() {
			numbers = append(numbers, m.Fields().Get(i).Number())
		}
	}
	slices.Sort(numbers)
	return slices.Compact(numbers)
}

// required reports whether f is a proto2 required field.
func required(f protoreflect.FieldDescriptor) bool {
	return f.Cardinality() == protoreflect.Required
}

// describeField names a field for a message: "field 3 (max_players)".
func describeField(f protoreflect.FieldDescriptor) string {
	return fmt.Sprintf("field %d (%s)", f.Number(), f.Name())
}
