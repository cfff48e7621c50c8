package compat

import "fmt"

// Kind names a kind of incompatible change, with Confluent's name for it.
type Kind string

// The kinds of incompatible change. Each is found while comparing a writer
// schema with a reader schema; the comments say what the writer and the
// reader hold.
const (
	// PackageChanged: the file's package differs. Path #/.
	PackageChanged Kind = "PACKAGE_CHANGED"
	// MessageRemoved: the old schema has a message the new one lacks. Path
	// #/Outer/Inner. Reported when the new schema reads (BACKWARD, FULL);
	// adding a message is compatible in every direction.
	MessageRemoved Kind = "MESSAGE_REMOVED"
	// FieldKindChanged: a field is a scalar (or enum), a message, a group or a
	// map in one schema and another of these in the other.
	FieldKindChanged Kind = "FIELD_KIND_CHANGED"
	// FieldScalarKindChanged: a scalar field's type moved between
	// wire-incompatible groups: {int32, int64, uint32, uint64, bool, enum},
	// {sint32, sint64}, {string, bytes}, {fixed32, sfixed32},
	// {fixed64, sfixed64}, {float}, {double}.
	FieldScalarKindChanged Kind = "FIELD_SCALAR_KIND_CHANGED"
	// FieldNamedTypeChanged: a message-typed field names another message, or a
	// message it names from another file changed incompatibly.
	FieldNamedTypeChanged Kind = "FIELD_NAMED_TYPE_CHANGED"
	// FieldNumericLabelChanged: a numeric (packable) field changed between
	// singular and repeated.
	FieldNumericLabelChanged Kind = "FIELD_NUMERIC_LABEL_CHANGED"
	// FieldMovedToExistingOneof: a reader oneof joins a field that is outside
	// any oneof in the writer with fields that were already in a oneof. Path
	// #/Message/oneof_name.
	FieldMovedToExistingOneof Kind = "FIELD_MOVED_TO_EXISTING_ONEOF"
	// MultipleFieldsMovedToOneof: a reader oneof joins several fields that are
	// outside any oneof in the writer. Path #/Message/oneof_name.
	MultipleFieldsMovedToOneof Kind = "MULTIPLE_FIELDS_MOVED_TO_ONEOF"
	// OneofFieldRemoved: a field of a writer oneof is missing from the reader
	// while the oneof lives on there. Path #/Message/oneof_name/3.
	OneofFieldRemoved Kind = "ONEOF_FIELD_REMOVED"
	// RequiredFieldAdded: the reader requires a (proto2) field that the writer
	// lacks or does not require.
	RequiredFieldAdded Kind = "REQUIRED_FIELD_ADDED"
	// RequiredFieldRemoved: the writer requires a (proto2) field that the
	// reader lacks or does not require.
	RequiredFieldRemoved Kind = "REQUIRED_FIELD_REMOVED"
	// EventOptionChanged: a security option of an event's
	// (cairn.options.v1.event) differs: topic, key_field, actor_field or
	// derived. Not a wire change, so found in either direction, once per
	// version compared, at every level but NONE. Path #/Message. Cairn's
	// own kind; Confluent has none like it.
	EventOptionChanged Kind = "EVENT_OPTION_CHANGED"
)

// Incompatibility is one incompatible change found by Check. Paths follow
// Confluent's: #/ for the file, #/HuntCreated for a message, #/Outer/Inner/2
// for field 2 of a nested message, #/HuntCreated/choice for a oneof.
type Incompatibility struct {
	// Kind says what changed.
	Kind Kind
	// Path locates the change, as in "#/HuntCreated/3".
	Path string
	// Message explains the change for a person, naming the old and the new
	// schema's side, for example "field 3 (max_players) changed from uint32
	// to string".
	Message string
	// Version is the index, in the existing versions passed to Check, of the
	// version the candidate was compared with.
	Version int
	// Forward is true when the existing version was the reader and the
	// candidate the writer (a FORWARD check), false when the candidate was
	// the reader (a BACKWARD check).
	Forward bool
}

// String returns the kind, the path and the message, as in
// "FIELD_SCALAR_KIND_CHANGED #/HuntCreated/3: field 3 (max_players) changed
// from uint32 to string".
func (i Incompatibility) String() string {
	return fmt.Sprintf("%s %s: %s", i.Kind, i.Path, i.Message)
}
