package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairnhq/cairn/registry/regclient"
)

// Candidate is one schema of a set that CheckSet checks: the schema and the
// subject it would be registered under.
type Candidate struct {
	Subject string
	Input   regclient.SchemaInput
}

// Verdict is what registering a candidate would do.
type Verdict int

// The verdicts, as the gRPC API's cairn.registry.v1.Verdict numbers them.
const (
	// VerdictUnchanged: a live version of the subject holds the schema.
	VerdictUnchanged Verdict = iota + 1
	// VerdictNew: the schema would be the subject's first live version.
	VerdictNew
	// VerdictCompatible: the schema would be the subject's next version.
	VerdictCompatible
	// VerdictIncompatible: the subject's compatibility level refuses it.
	VerdictIncompatible
	// VerdictInvalid: the schema itself is refused (it does not compile,
	// an import of the set is invalid, a rule does not compile) or the
	// subject is read-only.
	VerdictInvalid
)

// CheckResult is the verdict on one candidate.
type CheckResult struct {
	Subject string
	Verdict Verdict
	// Version holds the schema (VerdictUnchanged) or is the one it would
	// get (VerdictNew, VerdictCompatible); 0 otherwise.
	Version int
	// Reasons explain VerdictIncompatible (each with its kind and path) and
	// VerdictInvalid.
	Reasons []string
}

// CheckSet says, candidate by candidate, what Register would answer if the
// set were registered in order, and registers nothing. A reference to the
// subject of an earlier candidate resolves to that candidate (to the
// registered version, when the candidate is unchanged), whatever version
// it names: files whose imports are new or changed are checked as they
// will be registered. A candidate referencing an invalid one is invalid.
// An error says the registry could not answer at all.
func (r *Registry) CheckSet(ctx context.Context, cands []Candidate) ([]CheckResult, error) {
	r.refreshIfStale(ctx)
	x := r.current()
	set := make(map[string]*regclient.Schema) // subject -> its schema once checked; nil when invalid
	out := make([]CheckResult, 0, len(cands))
	for _, c := range cands {
		res, s, err := r.checkCandidate(ctx, x, set, c)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", c.Subject, err)
		}
		set[c.Subject] = s
		out = append(out, res)
	}
	return out, nil
}

// checkCandidate checks one candidate against the index x and the
// candidates before it (set). It returns the schema that importers of the
// candidate's subject resolve to, nil when it is invalid.
func (r *Registry) checkCandidate(ctx context.Context, x *index, set map[string]*regclient.Schema, c Candidate) (CheckResult, *regclient.Schema, error) {
	res := CheckResult{Subject: c.Subject}
	invalid := func(err error) (CheckResult, *regclient.Schema, error) {
		e, ok := errors.AsType[*regclient.Error](err)
		if !ok || e.HTTPStatus() >= 500 {
			return res, nil, err
		}
		res.Verdict, res.Reasons = VerdictInvalid, []string{e.Message}
		return res, nil, nil
	}
	if err := checkSubject(c.Subject); err != nil {
		return invalid(err)
	}
	if c.Input.Type != "" && c.Input.Type != regclient.TypeProtobuf {
		return invalid(regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema: schema type %s is not supported; this registry holds PROTOBUF schemas", c.Input.Type))
	}
	mode, err := r.Mode(ctx, c.Subject, true)
	if err != nil {
		return res, nil, err
	}
	if mode == ModeReadOnly {
		return invalid(regclient.Errorf(regclient.CodeOperationNotPermitted, "Subject %s is in read-only mode", c.Subject))
	}
	deps := make([]regclient.Dependency, 0, len(c.Input.References))
	for _, ref := range c.Input.References {
		if dep, inSet := set[ref.Subject]; inSet {
			if dep == nil {
				return invalid(regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema: its import %q (subject %s) is invalid", ref.Name, ref.Subject))
			}
			deps = append(deps, regclient.Dependency{Name: ref.Name, Schema: dep})
			continue
		}
		resolved, err := x.resolveRefs([]regclient.Reference{ref})
		if err != nil {
			return invalid(err)
		}
		deps = append(deps, resolved...)
	}
	s, err := regclient.Compile(c.Input.Text, deps)
	if err != nil {
		return invalid(err)
	}
	s.References = c.Input.References
	s.Metadata, s.RuleSet = c.Input.Metadata, c.Input.RuleSet
	if err := checkRules(s); err != nil {
		return invalid(err)
	}

	normalize := c.Input.Normalize || x.normalizes(c.Subject)
	versions := x.subjects[c.Subject]
	var existing []*regclient.Schema
	for _, v := range versions {
		have, ok := x.schemas[v.schemaID]
		if !ok || v.deleted {
			continue
		}
		if sameSchema(have, s, normalize) {
			// Importers resolve to what is registered, as a push would
			// reference it.
			res.Verdict, res.Version = VerdictUnchanged, v.version
			return res, have, nil
		}
		existing = append(existing, have)
	}
	if len(versions) > 0 {
		res.Version = versions[len(versions)-1].version + 1
	} else {
		res.Version = 1
	}
	if mode != ModeImport {
		level, err := r.Compatibility(ctx, c.Subject, true)
		if err != nil {
			return res, nil, err
		}
		if problems := checkCompatibility(level, s, existing); len(problems) > 0 {
			// Importers are checked against it all the same: their own
			// verdicts are worth having.
			res.Verdict, res.Version, res.Reasons = VerdictIncompatible, 0, problems
			return res, s, nil
		}
	}
	res.Verdict = VerdictCompatible
	if len(existing) == 0 {
		res.Verdict = VerdictNew
	}
	return res, s, nil
}
