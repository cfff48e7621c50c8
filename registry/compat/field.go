package compat

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// field compares two versions of the field at path: its value type, its
// cardinality and whether it is required.
func (d *differ) field(wf, rf protoreflect.FieldDescriptor, path string) {
	_, newField := oldNew(d, wf, rf)
	what := describeField(newField) // the new schema names the field
	if !d.value(wf, rf, path, what) {
		return
	}
	if shapeOf(wf) == scalarShape && groupOf(wf) != stringOrBytes && wf.IsList() != rf.IsList() {
		o, n := oldNew(d, wf, rf)
		d.add(FieldNumericLabelChanged, path, "%s changed from %s to %s", what, cardinality(o), cardinality(n))
	}
	wr, rr := d.roles()
	switch {
	case required(rf) && !required(wf):
		d.add(RequiredFieldAdded, path, "%s is required in the %s schema but not in the %s schema", what, rr, wr)
	case required(wf) && !required(rf):
		d.add(RequiredFieldRemoved, path, "%s is required in the %s schema but not in the %s schema", what, wr, rr)
	}
}

// value compares the types of the values a field holds (for a map field, its
// keys and values), reporting whether they are compatible. what names the
// field for messages.
func (d *differ) value(wf, rf protoreflect.FieldDescriptor, path, what string) bool {
	o, n := oldNew(d, wf, rf)
	ws := shapeOf(wf)
	if ws != shapeOf(rf) {
		d.add(FieldKindChanged, path, "%s changed from %s to %s", what, typeName(o), typeName(n))
		return false
	}
	switch ws {
	case mapShape:
		keys := d.value(wf.MapKey(), rf.MapKey(), path, "map key of "+what)
		values := d.value(wf.MapValue(), rf.MapValue(), path, "map value of "+what)
		return keys && values
	case messageShape, groupShape:
		return d.namedType(wf, rf, path, what)
	default:
		if groupOf(wf) != groupOf(rf) {
			d.add(FieldScalarKindChanged, path, "%s changed from %s to %s", what, typeName(o), typeName(n))
			return false
		}
		return true
	}
}

// namedType compares the messages two message-typed fields name. Messages are
// matched by their name inside their package, so a package change alone does
// not change a field's type. A message of the schema's own file is compared
// where it is declared; one imported from another file is compared here, and
// the field is incompatible when it is.
func (d *differ) namedType(wf, rf protoreflect.FieldDescriptor, path, what string) bool {
	wm, rm := wf.Message(), rf.Message()
	if localName(wm) != localName(rm) {
		o, n := oldNew(d, wf, rf)
		d.add(FieldNamedTypeChanged, path, "%s changed from %s to %s", what, typeName(o), typeName(n))
		return false
	}
	if wm.ParentFile().Path() == d.writer.Path() && rm.ParentFile().Path() == d.reader.Path() {
		return true
	}
	key := [2]protoreflect.FullName{wm.FullName(), rm.FullName()}
	ok, seen := d.imported[key]
	if !seen {
		if d.imported == nil {
			d.imported = make(map[[2]protoreflect.FullName]bool)
		}
		d.imported[key] = true
		before := len(d.found)
		d.message(wm, rm, "#/"+strings.ReplaceAll(localName(wm), ".", "/"))
		ok = len(d.found) == before
		d.imported[key] = ok
	}
	if !ok {
		_, n := oldNew(d, wf, rf)
		d.add(FieldNamedTypeChanged, path, "%s has type %s, which changed incompatibly", what, typeName(n))
	}
	return ok
}

// localName is a message's full name without its file's package, as in
// "Outer.Inner".
func localName(m protoreflect.MessageDescriptor) string {
	name := string(m.FullName())
	if pkg := m.ParentFile().Package(); pkg != "" {
		name = strings.TrimPrefix(name, string(pkg)+".")
	}
	return name
}

// shape is what a field holds, in the sense of FIELD_KIND_CHANGED.
type shape int

const (
	scalarShape shape = iota // scalars and enums
	messageShape
	groupShape
	mapShape
)

// shapeOf returns what f holds.
func shapeOf(f protoreflect.FieldDescriptor) shape {
	switch {
	case f.IsMap():
		return mapShape
	case f.Kind() == protoreflect.MessageKind:
		return messageShape
	case f.Kind() == protoreflect.GroupKind:
		return groupShape
	default:
		return scalarShape
	}
}

// scalarGroup is a set of scalar types that read each other's encoding.
type scalarGroup int

const (
	varint scalarGroup = iota // int32, int64, uint32, uint64, bool, enums
	zigzag                    // sint32, sint64
	stringOrBytes
	fixed32
	fixed64
	float
	double
)

// groupOf returns the group of a scalar field's type.
func groupOf(f protoreflect.FieldDescriptor) scalarGroup {
	switch f.Kind() {
	case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		return zigzag
	case protoreflect.StringKind, protoreflect.BytesKind:
		return stringOrBytes
	case protoreflect.Fixed32Kind, protoreflect.Sfixed32Kind:
		return fixed32
	case protoreflect.Fixed64Kind, protoreflect.Sfixed64Kind:
		return fixed64
	case protoreflect.FloatKind:
		return float
	case protoreflect.DoubleKind:
		return double
	default:
		return varint
	}
}

// typeName spells a field's value type for messages: "uint32",
// "enum cairn.hunt.v1.Status", "message cairn.hunt.v1.Clue",
// "map<string, int32>".
func typeName(f protoreflect.FieldDescriptor) string {
	switch shapeOf(f) {
	case mapShape:
		return fmt.Sprintf("map<%s, %s>", typeName(f.MapKey()), typeName(f.MapValue()))
	case messageShape:
		return "message " + string(f.Message().FullName())
	case groupShape:
		return "group " + string(f.Message().FullName())
	}
	if f.Kind() == protoreflect.EnumKind {
		return "enum " + string(f.Enum().FullName())
	}
	return f.Kind().String()
}

// cardinality spells whether a field repeats, with its type: "repeated int32".
func cardinality(f protoreflect.FieldDescriptor) string {
	if f.IsList() {
		return "repeated " + typeName(f)
	}
	return "singular " + typeName(f)
}
