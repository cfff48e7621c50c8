package compat

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
)

// securityOptions are the event options (cairn.options.v1.event) that say
// who may publish an event and where it goes: a new version may not change
// them at any level but NONE, however wire-compatible the change. The
// options that shape a topic (partitions, retention, …) are not among them.
var securityOptions = []struct {
	name string
	get  func(*optionsv1.EventOptions) any
}{
	{"topic", func(o *optionsv1.EventOptions) any { return o.GetTopic() }},
	{"key_field", func(o *optionsv1.EventOptions) any { return o.GetKeyField() }},
	{"actor_field", func(o *optionsv1.EventOptions) any { return o.GetActorField() }},
	{"derived", func(o *optionsv1.EventOptions) any { return o.GetDerived() }},
}

// eventOptionChanges reports the security options of old's events that
// candidate changes, message by message (nested ones included, matched by
// name). A message that becomes an event is a new event, not a change; one
// that stops being an event changes every option it had set.
func eventOptionChanges(old, candidate protoreflect.FileDescriptor) []Incompatibility {
	var found []Incompatibility
	var walk func(o, n protoreflect.MessageDescriptors, prefix string)
	walk = func(o, n protoreflect.MessageDescriptors, prefix string) {
		for i := range o.Len() {
			om := o.Get(i)
			nm := n.ByName(om.Name())
			if om.IsMapEntry() || nm == nil {
				continue // a removed message is MessageRemoved's business
			}
			path := prefix + "/" + string(om.Name())
			if oe := EventOptions(om); oe != nil {
				ne := EventOptions(nm)
				if ne == nil {
					ne = &optionsv1.EventOptions{}
				}
				for _, opt := range securityOptions {
					if was, is := opt.get(oe), opt.get(ne); was != is {
						found = append(found, Incompatibility{
							Kind: EventOptionChanged,
							Path: path,
							Message: fmt.Sprintf("event option %s of %s changed from %s to %s; it decides who may publish the event and where it goes, and only compatibility NONE allows changing it",
								opt.name, om.FullName(), show(was), show(is)),
						})
					}
				}
			}
			walk(om.Messages(), nm.Messages(), path)
		}
	}
	walk(old.Messages(), candidate.Messages(), "#")
	return found
}

func show(v any) string {
	if s, ok := v.(string); ok {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprint(v)
}

// EventOptions returns the (cairn.options.v1.event) option of md, or nil
// when md is not an event. Options that arrive as unknown fields (from a
// descriptor built without the options' Go types) are read too.
func EventOptions(md protoreflect.MessageDescriptor) *optionsv1.EventOptions {
	opts, ok := md.Options().(*descriptorpb.MessageOptions)
	if !ok || opts == nil {
		return nil
	}
	if !proto.HasExtension(opts, optionsv1.E_Event) && len(opts.ProtoReflect().GetUnknown()) > 0 {
		b, err := proto.Marshal(opts)
		if err != nil {
			return nil
		}
		typed := new(descriptorpb.MessageOptions)
		if err := (proto.UnmarshalOptions{Resolver: protoregistry.GlobalTypes}).Unmarshal(b, typed); err != nil {
			return nil
		}
		opts = typed
	}
	if !proto.HasExtension(opts, optionsv1.E_Event) {
		return nil
	}
	e, _ := proto.GetExtension(opts, optionsv1.E_Event).(*optionsv1.EventOptions)
	return e
}
