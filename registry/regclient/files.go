package regclient

import (
	"context"
	"fmt"
	"strings"

	"github.com/jhump/protoreflect/v2/protoprint"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
)

// Registrar registers schemas: a *Registry in process, or a *Remote.
type Registrar interface {
	Register(ctx context.Context, subject string, in SchemaInput) (int32, error)
	LookUp(ctx context.Context, subject string, in SchemaInput, deleted bool) (*SubjectVersion, error)
	// CheckCompatibility reports why in may not follow a subject's version
	// (-1: the latest) at the subject's level; nothing when it may.
	CheckCompatibility(ctx context.Context, subject string, version int, in SchemaInput) ([]string, error)
}

// RegisterFiles registers compiled .proto files, each after the files it
// imports, the way any Confluent client expects to find them: a file that
// declares events is registered under each event's full name (record-name
// strategy); any other file under its import path, which is also the name
// its importers reference it by. google/protobuf files are built in.
//
// Files already registered with the same content keep their ids. A file
// incompatible with what a subject holds fails with the registry's 409,
// and so does one incompatible with the subject's latest version even when
// an older version holds it: whoever runs these files would otherwise
// meet the latest version's types at run time.
func RegisterFiles(ctx context.Context, r Registrar, files ...protoreflect.FileDescriptor) error {
	done := make(map[string]Reference) // import path -> where it was registered
	var register func(fd protoreflect.FileDescriptor) error
	register = func(fd protoreflect.FileDescriptor) error {
		if _, ok := done[fd.Path()]; ok || builtin(fd.Path()) {
			return nil
		}
		var refs []Reference
		imports := fd.Imports()
		for i := range imports.Len() {
			dep := imports.Get(i).FileDescriptor
			if builtin(dep.Path()) {
				continue
			}
			if err := register(dep); err != nil {
				return err
			}
			refs = append(refs, done[dep.Path()])
		}
		text, err := printFile(fd)
		if err != nil {
			return err
		}
		in := SchemaInput{Type: TypeProtobuf, Text: text, References: refs}
		subjects := eventSubjects(fd)
		if len(subjects) == 0 {
			subjects = []string{fd.Path()}
		}
		for _, subject := range subjects {
			problems, err := r.CheckCompatibility(ctx, subject, -1, in)
			if err != nil {
				return fmt.Errorf("check %s against subject %q: %w", fd.Path(), subject, err)
			}
			if len(problems) > 0 {
				return fmt.Errorf("register %s as subject %q: %w", fd.Path(), subject,
					Errorf(CodeIncompatible, "the schema is incompatible with the subject's latest version: %s", strings.Join(problems, "; ")))
			}
			if _, err := r.Register(ctx, subject, in); err != nil {
				return fmt.Errorf("register %s as subject %q: %w", fd.Path(), subject, err)
			}
		}
		sv, err := r.LookUp(ctx, subjects[0], in, false)
		if err != nil {
			return fmt.Errorf("register %s: %w", fd.Path(), err)
		}
		done[fd.Path()] = Reference{Name: fd.Path(), Subject: sv.Subject, Version: sv.Version}
		return nil
	}
	for _, fd := range files {
		if err := register(fd); err != nil {
			return err
		}
	}
	return nil
}

// eventSubjects names the subjects of the file's event messages.
func eventSubjects(fd protoreflect.FileDescriptor) []string {
	var subjects []string
	msgs := fd.Messages()
	for i := range msgs.Len() {
		if proto.HasExtension(msgs.Get(i).Options(), optionsv1.E_Event) {
			subjects = append(subjects, string(msgs.Get(i).FullName()))
		}
	}
	return subjects
}

// printFile renders a compiled file as .proto source, comments included
// when the descriptor carries them.
func printFile(fd protoreflect.FileDescriptor) (string, error) {
	p := protoprint.Printer{}
	text, err := p.PrintProtoToString(fd)
	if err != nil {
		return "", fmt.Errorf("print %s: %w", fd.Path(), err)
	}
	return text, nil
}
