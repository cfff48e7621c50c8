package compat

import (
	"cmp"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// oneofs checks how fields moved into, out of and between oneofs from writer
// to reader. A writer may set every field outside its oneofs, but a reader
// keeps only one member of each of its own oneofs: so a reader oneof may take
// in at most one writer field from outside any oneof, and only if none of its
// members was already in a writer oneof. A writer oneof member that the reader
// lacks, while the oneof lives on there, makes the reader see the oneof as
// unset. Removing a whole oneof, or taking its fields out of it, is
// compatible, as in Confluent.
func (d *differ) oneofs(w, r protoreflect.MessageDescriptor, path string) {
	wr, rr := d.roles()
	for ro := range realOneofs(r) {
		var moved, existing []protoreflect.FieldDescriptor // as the new schema names them
		for i := range ro.Fields().Len() {
			rf := ro.Fields().Get(i)
			wf := w.Fields().ByNumber(rf.Number())
			if wf == nil {
				continue // a new field
			}
			if _, nf := oldNew(d, wf, rf); realOneof(wf) == nil {
				moved = append(moved, nf)
			} else {
				existing = append(existing, nf)
			}
		}
		opath := path + "/" + string(ro.Name())
		switch {
		case len(moved) > 1:
			d.add(MultipleFieldsMovedToOneof, opath, "%s are outside any oneof in the %s schema but share oneof %s in the %s schema",
				describeFields(moved), wr, ro.Name(), rr)
		case len(moved) == 1 && len(existing) > 0:
			d.add(FieldMovedToExistingOneof, opath, "%s is outside any oneof in the %s schema but shares oneof %s in the %s schema with %s, already in a oneof",
				describeField(moved[0]), wr, ro.Name(), rr, describeFields(existing))
		}
	}
	for wo := range realOneofs(w) {
		var removed []protoreflect.FieldDescriptor
		lives := false
		for i := range wo.Fields().Len() {
			wf := wo.Fields().Get(i)
			switch rf := r.Fields().ByNumber(wf.Number()); {
			case rf == nil:
				removed = append(removed, wf)
			case realOneof(rf) != nil:
				lives = true
			}
		}
		if !lives {
			continue
		}
		slices.SortFunc(removed, func(a, b protoreflect.FieldDescriptor) int { return cmp.Compare(a.Number(), b.Number()) })
		for _, wf := range removed {
			d.add(OneofFieldRemoved, path+"/"+string(wo.Name())+"/"+strconv.Itoa(int(wf.Number())),
				"%s of oneof %s in the %s schema is missing from the %s schema, whose readers see the oneof as unset",
				describeField(wf), wo.Name(), wr, rr)
		}
	}
}

// realOneofs yields the oneofs of m that are written in the schema, leaving
// out the synthetic ones of proto3 optional fields.
func realOneofs(m protoreflect.MessageDescriptor) iter.Seq[protoreflect.OneofDescriptor] {
	return func(yield func(protoreflect.OneofDescriptor) bool) {
		for i := range m.Oneofs().Len() {
			if o := m.Oneofs().Get(i); !o.IsSynthetic() && !yield(o) {
				return
			}
		}
	}
}

// realOneof returns the oneof written around f, or nil.
func realOneof(f protoreflect.FieldDescriptor) protoreflect.OneofDescriptor {
	if o := f.ContainingOneof(); o != nil && !o.IsSynthetic() {
		return o
	}
	return nil
}

// describeFields names fields for a message: "fields 1 (a), 2 (b)".
func describeFields(fs []protoreflect.FieldDescriptor) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = fmt.Sprintf("%d (%s)", f.Number(), f.Name())
	}
	return "fields " + strings.Join(parts, ", ")
}
