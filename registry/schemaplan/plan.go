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
	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
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
// nothing, in one CheckSchemas call: every file, imports first, each
// referencing its imports as the set holds them, so that the registry
// judges a file whose imports are new or changed against those imports,
// with all its own refusals (compilation, rules, event options,
// compatibility). A *ConnectionError says the registry could not be asked.
func (p *Plan) Check(ctx context.Context, r *Remote) ([]Subject, error) {
	var cands []candidate
	var out []Subject
	for _, e := range p.entries {
		in := regclient.SchemaInput{Type: regclient.TypeProtobuf, Text: e.text}
		for _, d := range e.deps {
			// The registry resolves a reference to a subject of the set
			// to the set's file, whatever the version: 1 stands in for
			// the version the import will have.
			in.References = append(in.References, regclient.Reference{Name: d.fd.Path(), Subject: d.subjects[0], Version: 1})
		}
		for _, subject := range e.subjects {
			cands = append(cands, candidate{subject: subject, in: in})
			out = append(out, Subject{Subject: subject, File: e.fd.Path(), Source: e.source})
		}
	}
	verdicts, err := r.checkSet(ctx, cands)
	if err != nil {
		return nil, err
	}
	for i, v := range verdicts {
		s := &out[i]
		s.Version, s.Reasons = int(v.GetVersion()), v.GetMessages()
		switch v.GetVerdict() {
		case registryv1.Verdict_VERDICT_UNCHANGED:
			s.Status = Unchanged
		case registryv1.Verdict_VERDICT_NEW:
			s.Status = New
		case registryv1.Verdict_VERDICT_COMPATIBLE:
			s.Status = Compatible
		case registryv1.Verdict_VERDICT_INCOMPATIBLE:
			s.Status = Incompatible
		case registryv1.Verdict_VERDICT_INVALID:
			s.Status = Invalid
		default:
			return nil, fmt.Errorf("check %s: the registry answered verdict %v", s.Subject, v.GetVerdict())
		}
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
