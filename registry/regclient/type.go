// Package regclient is what the schema registry's callers need, without the
// registry's store: a registered message Type with its event options, a
// caching Client that answers the two questions the gateway and the workers
// ask (which schema and descriptor belong to a message type, to produce;
// which message type a schema id and its message indexes name, to consume),
// Remote, which reads a registry over its gRPC API, the compiled Schema and
// its Confluent-coded Error, and RegisterFiles, which pushes compiled .proto
// files through any Registrar.
//
// Schemas are stored per file, as the Confluent Schema Registry stores
// protobuf schemas: each file gets a global schema id, and a message is
// located inside its file by message indexes. A file's imports other than
// google/protobuf/* and google/type/* are themselves registered files.
//
// The registry server (package registry) imports this package, never the
// reverse: a gateway links the client, not SQL drivers.
package regclient

import (
	"fmt"
	"regexp"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
)

// Type is a registered message type, resolved for producing and consuming.
// A Type is immutable and safe for concurrent use.
type Type struct {
	// SchemaID is the global id of the schema file that declares the type.
	SchemaID int32
	// Subject is the subject the file is registered under.
	Subject string
	// Indexes locate the message inside its file (see package wire).
	Indexes []int
	// Descriptor describes the message as registered.
	Descriptor protoreflect.MessageDescriptor
	// Event holds the (cairn.options.v1.event) option, or nil when the
	// message is not a publishable event.
	Event *optionsv1.EventOptions
	// Derived reports that the event is one only Cairn's workers write (the
	// event option derived): the gateway refuses it from every caller.
	Derived bool
	// Required reports that the message, or a message reachable from its
	// fields, declares a required field (proto2, or the editions' legacy
	// required): only then must decoding check that every one is set.
	Required bool
}

// Name returns the message's full name.
func (t *Type) Name() protoreflect.FullName { return t.Descriptor.FullName() }

// KeyField returns the field whose value is the Kafka record key.
func (t *Type) KeyField() protoreflect.FieldDescriptor {
	return t.Descriptor.Fields().ByName(protoreflect.Name(t.Event.GetKeyField()))
}

// ActorField returns the field naming the acting player, or nil.
func (t *Type) ActorField() protoreflect.FieldDescriptor {
	if t.Event.GetActorField() == "" {
		return nil
	}
	return t.Descriptor.Fields().ByName(protoreflect.Name(t.Event.GetActorField()))
}

// newType resolves the event options of md and checks that they make sense.
func newType(schemaID int32, subject string, md protoreflect.MessageDescriptor) (*Type, error) {
	t := &Type{SchemaID: schemaID, Subject: subject, Indexes: messageIndexes(md), Descriptor: md,
		Required: declaresRequired(md, map[protoreflect.FullName]bool{})}
	opts, ok := proto.GetExtension(md.Options(), optionsv1.E_Event).(*optionsv1.EventOptions)
	if !ok || opts == nil || !proto.HasExtension(md.Options(), optionsv1.E_Event) {
		return t, nil
	}
	t.Event = opts
	t.Derived = opts.GetDerived()
	if !topicName.MatchString(opts.GetTopic()) {
		return nil, fmt.Errorf("%s: event topic %q is not a valid Kafka topic name", md.FullName(), opts.GetTopic())
	}
	if err := checkStringField(md, "key_field", opts.GetKeyField(), true); err != nil {
		return nil, err
	}
	if err := checkStringField(md, "actor_field", opts.GetActorField(), false); err != nil {
		return nil, err
	}
	return t, nil
}

// declaresRequired reports whether md, or a message reachable from its
// fields, has a required field; seen holds the messages walked already.
func declaresRequired(md protoreflect.MessageDescriptor, seen map[protoreflect.FullName]bool) bool {
	if seen[md.FullName()] {
		return false
	}
	seen[md.FullName()] = true
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Cardinality() == protoreflect.Required {
			return true
		}
		if fd.Message() != nil && declaresRequired(fd.Message(), seen) {
			return true
		}
	}
	return false
}

var topicName = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func checkStringField(md protoreflect.MessageDescriptor, option, name string, required bool) error {
	if name == "" {
		if required {
			return fmt.Errorf("%s: event option %s is required", md.FullName(), option)
		}
		return nil
	}
	fd := md.Fields().ByName(protoreflect.Name(name))
	switch {
	case fd == nil:
		return fmt.Errorf("%s: event option %s names field %q, which does not exist", md.FullName(), option, name)
	case fd.Kind() != protoreflect.StringKind || fd.Cardinality() == protoreflect.Repeated:
		return fmt.Errorf("%s: event option %s names field %q, which is not a singular string", md.FullName(), option, name)
	}
	return nil
}

// messageIndexes returns the path of md within its file: its index among the
// file's top-level messages, then among each parent's nested messages.
func messageIndexes(md protoreflect.MessageDescriptor) []int {
	var rev []int
	for d := protoreflect.Descriptor(md); ; d = d.Parent() {
		m, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			break
		}
		rev = append(rev, m.Index())
	}
	indexes := make([]int, len(rev))
	for i, x := range rev {
		indexes[len(rev)-1-i] = x
	}
	return indexes
}

// messageAt returns the message the indexes locate in fd, or nil.
func messageAt(fd protoreflect.FileDescriptor, indexes []int) protoreflect.MessageDescriptor {
	msgs := fd.Messages()
	var md protoreflect.MessageDescriptor
	for _, i := range indexes {
		if i < 0 || i >= msgs.Len() {
			return nil
		}
		md = msgs.Get(i)
		msgs = md.Messages()
	}
	return md
}
