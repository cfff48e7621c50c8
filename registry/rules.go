package registry

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cairnhq/cairn/registry/regclient"
)

// ruleValidator compiles the protovalidate rules of registered schemas. It
// is built once, on the first registration (its CEL environment is the
// costly part).
var ruleValidator = sync.OnceValues(func() (protovalidate.Validator, error) {
	v, err := protovalidate.New()
	if err != nil {
		return nil, fmt.Errorf("build the rule validator: %w", err)
	}
	return v, nil
})

// checkRules compiles every protovalidate rule of every message the schema
// declares, nested ones included, and refuses the first that does not
// compile with its rule id, its field path and the compiler's error: a
// rule that does not compile would fail every publish of the type.
func checkRules(s *regclient.Schema) error {
	v, err := ruleValidator()
	if err != nil {
		return err
	}
	return compileRules(v, s.File.Messages())
}

// compileRules compiles the rules of msgs and of the messages they nest,
// depth first, and stops at the first that does not compile.
func compileRules(v protovalidate.Validator, msgs protoreflect.MessageDescriptors) error {
	for i := range msgs.Len() {
		md := msgs.Get(i)
		if md.IsMapEntry() {
			continue
		}
		// Validating an empty message builds the evaluators of all its
		// rules; a violation of them says nothing about compiling. A
		// message without rules of its own is skipped: building the
		// evaluators of, say, protovalidate's own FieldRules graph costs
		// much and checks nothing.
		if hasRules(md) {
			err := v.Validate(dynamicpb.NewMessage(md))
			if cerr, ok := errors.AsType[*protovalidate.CompilationError](err); ok {
				return regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema: %s does not compile: %v", locateRule(md, cerr), cerr)
			}
		}
		if err := compileRules(v, md.Messages()); err != nil {
			return err
		}
	}
	return nil
}

// hasRules reports whether md or one of its fields or oneofs declares
// protovalidate rules.
func hasRules(md protoreflect.MessageDescriptor) bool {
	if r, _ := protovalidate.ResolveMessageRules(md); r != nil {
		return true
	}
	for i := range md.Fields().Len() {
		if r, _ := protovalidate.ResolveFieldRules(md.Fields().Get(i)); r != nil {
			return true
		}
	}
	for i := range md.Oneofs().Len() {
		if r, _ := protovalidate.ResolveOneofRules(md.Oneofs().Get(i)); r != nil {
			return true
		}
	}
	return false
}

// locateRule names the rule a compilation error is about: its id and the
// path of the field (or message) that carries it, when the error names a
// rule id found there; else the message, whose error text names the field.
func locateRule(md protoreflect.MessageDescriptor, err error) string {
	text := err.Error()
	mentions := func(id string) bool {
		return id != "" && (strings.Contains(text, "expression "+id+":") || strings.Contains(text, "expression "+id+" "))
	}
	msgRules, _ := protovalidate.ResolveMessageRules(md)
	for _, rule := range msgRules.GetCel() {
		if mentions(rule.GetId()) {
			return fmt.Sprintf("rule %q on message %s", rule.GetId(), md.FullName())
		}
	}
	for _, expr := range msgRules.GetCelExpression() {
		if mentions(expr) {
			return fmt.Sprintf("rule %q on message %s", expr, md.FullName())
		}
	}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		fieldRules, _ := protovalidate.ResolveFieldRules(fd)
		if fieldRules == nil {
			continue
		}
		for _, rule := range fieldRules.GetCel() {
			if mentions(rule.GetId()) {
				return fmt.Sprintf("rule %q on field %s", rule.GetId(), fd.FullName())
			}
		}
		for _, expr := range fieldRules.GetCelExpression() {
			if mentions(expr) {
				return fmt.Sprintf("rule %q on field %s", expr, fd.FullName())
			}
		}
		// A standard rule (string.min_len on an int64, …) has no id of its
		// own: the field carrying rules the error names is the one.
		if strings.Contains(text, string(fd.FullName())) || strings.Contains(text, string(fd.Name())) {
			return fmt.Sprintf("a rule on field %s", fd.FullName())
		}
	}
	return fmt.Sprintf("a rule of message %s", md.FullName())
}
