// Package schemaplan decides what pushing a schema owner's files to a
// registry would do, subject by subject, and does it: `cairn schema check`
// reports the plan, `cairn schema push` carries it out. Files are
// registered the way any Confluent client expects to find them: a file
// that declares events under each event's full name (record-name
// strategy), any other file under its import path, which is also the name
// its importers reference it by; google/* files are built in.
package schemaplan

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jhump/protoreflect/v2/protoprint"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/schemaload"
	"github.com/cairnhq/cairn/registry/compat"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Status is what the registry says, or would say, of one subject.
type Status string

// The statuses of a subject. Those in capitals keep a push from happening
// or say it failed.
const (
	// Unchanged: the subject already holds the file; nothing to register.
	Unchanged Status = "unchanged"
	// New: the subject does not exist yet.
	New Status = "new"
	// Compatible: the file would be the subject's next version.
	Compatible Status = "compatible"
	// Incompatible: the subject's compatibility level refuses the file.
	Incompatible Status = "INCOMPATIBLE"
	// Invalid: the registry refuses the file itself (it does not compile
	// there, or its rules or options are refused).
	Invalid Status = "INVALID"
	// Registered: push registered the file as a new version.
	Registered Status = "registered"
	// Refused: push tried to register the file and the registry refused.
	Refused Status = "REFUSED"
	// Skipped: push stopped before this subject, after a refusal.
	Skipped Status = "not registered"
)

// Subject is the outcome for one subject.
type Subject struct {
	Subject string `json:"subject"`
	// File is the import path of the file the subject holds.
	File string `json:"file"`
	// Source is where the file was read.
	Source string `json:"source,omitempty"`
	Status Status `json:"status"`
	// Version is the subject's version holding the file, when it holds
	// it; for New and Compatible, the version it would get.
	Version int `json:"version,omitempty"`
	// Reasons explain an Incompatible, Invalid or Refused status, each
	// with its path ("#/OrderPlaced/4: FIELD_SCALAR_KIND_CHANGED …").
	Reasons []string `json:"reasons,omitempty"`
	// Note says how a status was reached when that is not obvious.
	Note string `json:"note,omitempty"`
}

// Failed reports whether the subject keeps a push from succeeding.
func (s Subject) Failed() bool {
	return s.Status == Incompatible || s.Status == Invalid || s.Status == Refused
}

// entry is one file to register, with everything needed to do it.
type entry struct {
	fd       protoreflect.FileDescriptor
	text     string
	subjects []string
	deps     []*entry
	source   string
	// set once known: the version each subject holds the file at (the
	// first subject's is what importers reference).
	version int
}

// Plan holds a set's files in the order they must be registered:
// Cairn's carried files they import first, then the owner's, each after
// its imports.
type Plan struct {
	entries []*entry
}

// New plans the registration of set's files.
func NewPlan(set *schemaload.Set) (*Plan, error) {
	p := &Plan{}
	byPath := make(map[string]*entry)
	var add func(fd protoreflect.FileDescriptor) (*entry, error)
	add = func(fd protoreflect.FileDescriptor) (*entry, error) {
		if e, ok := byPath[fd.Path()]; ok {
			return e, nil
		}
		e := &entry{fd: fd, source: set.Sources[fd.Path()]}
		if schemaload.Carried(fd.Path()) {
			e.source = "carried by cairn"
		}
		imports := fd.Imports()
		for i := range imports.Len() {
			dep := imports.Get(i).FileDescriptor
			if builtin(dep.Path()) {
				continue
			}
			if schemaload.Carried(dep.Path()) {
				// The binary's own copy, whatever the image held.
				carried, err := schemaload.CarriedFile(dep.Path())
				if err != nil {
					return nil, err
				}
				dep = carried
			}
			d, err := add(dep)
			if err != nil {
				return nil, err
			}
			e.deps = append(e.deps, d)
		}
		text, err := (&protoprint.Printer{}).PrintProtoToString(fd)
		if err != nil {
			return nil, fmt.Errorf("print %s: %w", fd.Path(), err)
		}
		e.text = text
		msgs := fd.Messages()
		for i := range msgs.Len() {
			if schemaload.EventOptions(msgs.Get(i)) != nil {
				e.subjects = append(e.subjects, string(msgs.Get(i).FullName()))
			}
		}
		if len(e.subjects) == 0 {
			e.subjects = []string{fd.Path()}
		}
		byPath[fd.Path()] = e
		p.entries = append(p.entries, e)
		return e, nil
	}
	for _, fd := range set.Files {
		if _, err := add(fd); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// builtin reports whether an import needs no reference, as in Confluent's
// registry.
func builtin(path string) bool {
	return strings.HasPrefix(path, "google/protobuf/") || strings.HasPrefix(path, "google/type/")
}

// input is the schema to register for e, with references to where its
// imports are registered; ok is false while an import is not registered.
func (e *entry) input() (in regclient.SchemaInput, ok bool) {
	in = regclient.SchemaInput{Type: regclient.TypeProtobuf, Text: e.text}
	for _, d := range e.deps {
		if d.version == 0 {
			return in, false
		}
		in.References = append(in.References, regclient.Reference{Name: d.fd.Path(), Subject: d.subjects[0], Version: d.version})
	}
	return in, true
}

// Check asks the registry what pushing the plan would do, registering
// nothing. A file whose imports are not registered yet cannot be sent to
// the registry as it is; it is compared here, with the registry's
// compatibility checker, against the subject's versions at the subject's
// level. A *ConnectionError says the registry could not be asked.
func (p *Plan) Check(ctx context.Context, r *Remote) ([]Subject, error) {
	var out []Subject
	for _, e := range p.entries {
		e.version = 0
		in, resolvable := e.input()
		for i, subject := range e.subjects {
			s := Subject{Subject: subject, File: e.fd.Path(), Source: e.source}
			if resolvable {
				v, err := r.lookUp(ctx, subject, in)
				if err != nil {
					return nil, err
				}
				if v > 0 {
					s.Status, s.Version = Unchanged, v
					if i == 0 {
						e.version = v
					}
					out = append(out, s)
					continue
				}
			}
			versions, err := r.versions(ctx, subject)
			if err != nil {
				return nil, err
			}
			next := 1
			if len(versions) > 0 {
				next = versions[len(versions)-1] + 1
			}
			s.Version = next
			var reasons []string
			if resolvable {
				reasons, err = r.check(ctx, subject, in)
			} else {
				s.Note = "an import is not registered yet: compared here with the registry's checker"
				reasons, err = p.checkHere(ctx, r, subject, e.fd, versions)
			}
			var re *regclient.Error
			switch {
			case errors.As(err, &re) && re.Code == regclient.CodeInvalidSchema:
				s.Status, s.Reasons = Invalid, []string{re.Message}
			case err != nil:
				return nil, err
			case len(reasons) > 0:
				s.Status, s.Reasons = Incompatible, reasons
			case len(versions) == 0:
				s.Status = New
			default:
				s.Status = Compatible
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// checkHere compares fd with the live versions of subject at its level.
func (p *Plan) checkHere(ctx context.Context, r *Remote, subject string, fd protoreflect.FileDescriptor, versions []int) ([]string, error) {
	if len(versions) == 0 {
		return nil, nil
	}
	name, err := r.level(ctx, subject)
	if err != nil {
		return nil, err
	}
	level, err := compat.ParseLevel(name)
	if err != nil {
		return nil, fmt.Errorf("subject %s: %w", subject, err)
	}
	existing := make([]protoreflect.FileDescriptor, 0, len(versions))
	for _, v := range versions {
		sv, err := r.version(ctx, subject, v)
		if err != nil {
			return nil, err
		}
		existing = append(existing, sv.Schema.File)
	}
	var out []string
	for _, inc := range compat.Check(level, fd, existing) {
		out = append(out, inc.String())
	}
	return out, nil
}

// Push checks the plan and, when nothing in it is refused, registers each
// file not yet registered, imports first. When the check finds a problem
// nothing is registered. When the registry refuses a file during the push
// (another push got in between), it stops: the outcome says what was
// registered, what was refused and what was not registered. Pushing files
// already registered registers nothing.
func (p *Plan) Push(ctx context.Context, r *Remote) ([]Subject, error) {
	checked, err := p.Check(ctx, r)
	if err != nil {
		return nil, err
	}
	for _, s := range checked {
		if s.Failed() {
			return checked, nil
		}
	}
	// What the check found unchanged needs no second look.
	unchanged := make(map[string]int)
	for _, s := range checked {
		if s.Status == Unchanged {
			unchanged[s.Subject] = s.Version
		}
	}
	for _, e := range p.entries {
		e.version = 0
	}
	var out []Subject
	failed := false
	for _, e := range p.entries {
		for i, subject := range e.subjects {
			s := Subject{Subject: subject, File: e.fd.Path(), Source: e.source}
			in, resolvable := e.input()
			if failed || !resolvable {
				s.Status = Skipped
				out = append(out, s)
				continue
			}
			v, known := unchanged[subject]
			var err error
			if !known {
				if v, err = r.lookUp(ctx, subject, in); err != nil {
					return out, err
				}
			}
			if v > 0 {
				s.Status, s.Version = Unchanged, v
			} else {
				if _, err := r.register(ctx, subject, in); err != nil {
					var re *regclient.Error
					if !errors.As(err, &re) {
						return out, err
					}
					s.Status, s.Reasons = Refused, splitReasons(re.Message)
					failed = true
					out = append(out, s)
					continue
				}
				if v, err = r.lookUp(ctx, subject, in); err != nil {
					return out, err
				}
				s.Status, s.Version = Registered, v
			}
			if i == 0 {
				e.version = s.Version
			}
			out = append(out, s)
		}
	}
	return out, nil
}

// splitReasons splits the registry's 409 message, "… details: [a, b]",
// into its reasons.
func splitReasons(msg string) []string {
	head, list, ok := strings.Cut(msg, "details: [")
	if !ok || !strings.HasSuffix(list, "]") {
		return []string{msg}
	}
	out := []string{strings.TrimSpace(head)}
	for _, r := range strings.Split(strings.TrimSuffix(list, "]"), ", ") {
		out = append(out, r)
	}
	return out
}
