package registry

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"

	"github.com/cairnhq/cairn/registry/regclient"
)

// Register adds a schema to a subject and returns its global id. If a live
// version of the subject already holds the same schema, its id is returned
// and nothing changes; with in.Normalize, or when the subject's
// configuration (or the global one) says normalize, that comparison is in
// canonical form. The schema must be compatible with the subject's
// versions under its compatibility level.
func (r *Registry) Register(ctx context.Context, subject string, in regclient.SchemaInput) (int32, error) {
	if err := checkSubject(subject); err != nil {
		return 0, err
	}
	mode, err := r.Mode(ctx, subject, true)
	if err != nil {
		return 0, err
	}
	switch {
	case mode == ModeReadOnly:
		return 0, regclient.Errorf(regclient.CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	case in.ID != 0 && mode != ModeImport:
		return 0, regclient.Errorf(regclient.CodeOperationNotPermitted, "Subject %s is not in import mode: a schema id may only be given in IMPORT mode", subject)
	case in.ID < 0:
		return 0, regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema id %d: a schema id is a positive 32-bit integer", in.ID)
	}
	// A subject configured to normalize registers as if asked to.
	in.Normalize = in.Normalize || r.current().normalizes(subject)
	s, err := r.parse(ctx, in)
	if err != nil {
		return 0, err
	}
	if err := checkRules(s); err != nil {
		return 0, err
	}
	level, err := r.Compatibility(ctx, subject, true)
	if err != nil {
		return 0, err
	}
	// Another instance may have registered a version this one has not
	// loaded yet: then refresh and try again.
	var id int32
	for attempt := 0; ; attempt++ {
		id, err = r.register(ctx, subject, in, s, mode, level)
		if !errors.Is(err, errStale) || attempt == 3 {
			break
		}
		if err = r.refresh(ctx); err != nil {
			break
		}
	}
	if errors.Is(err, errStale) {
		err = storeError("register "+subject, err)
	}
	if err != nil {
		return 0, err
	}
	return id, nil
}

// sameSchema reports whether a and b are the same schema: the same content
// whatever its formatting, and also whatever its declarations' order when
// normalize; and the same metadata and rule set.
func sameSchema(a, b *regclient.Schema, normalize bool) bool {
	return a.Identity(normalize) == b.Identity(normalize)
}

// errStale says the index lacks a schema that the store's versions use.
var errStale = errors.New("the registry's index is behind its store")

// register adds s to subject in one transaction, checked against the
// subject's versions as the store holds them.
func (r *Registry) register(ctx context.Context, subject string, in regclient.SchemaInput, s *regclient.Schema, mode, level string) (int32, error) {
	var id int32
	err := r.tx(ctx, func(tx *sql.Tx) error {
		// Registrations to one subject take turns, across instances.
		if err := lockSubject(ctx, r.db, tx, subject); err != nil {
			return err
		}
		versions, err := subjectVersions(ctx, tx, subject)
		if err != nil {
			return err
		}
		x := r.current()
		for _, v := range versions {
			if _, ok := x.schemas[v.schemaID]; !ok {
				return errStale
			}
		}
		for _, v := range versions {
			if have, ok := x.schemas[v.schemaID]; ok && !v.deleted && sameSchema(have, s, in.Normalize) {
				id = v.schemaID
				return nil
			}
		}
		if mode != ModeImport {
			var existing []*regclient.Schema
			for _, v := range versions {
				if have, ok := x.schemas[v.schemaID]; ok && !v.deleted {
					existing = append(existing, have)
				}
			}
			if problems := checkCompatibility(level, s, existing); len(problems) > 0 {
				return regclient.Errorf(regclient.CodeIncompatible, "Schema being registered is incompatible with an earlier schema for subject %q, details: [%s]", subject, strings.Join(problems, ", "))
			}
		}
		if in.Normalize && in.ID == 0 {
			// The same schema in canonical form, in another subject or
			// order, keeps its id.
			var same *regclient.Schema
			for _, have := range x.schemas {
				if sameSchema(have, s, true) && slices.Equal(have.References, in.References) && (same == nil || have.ID < same.ID) {
					same = have
				}
			}
			if same != nil {
				s = same
			}
		}
		if id, err = insertSchema(ctx, tx, s, in.References, in.ID); err != nil {
			return err
		}
		version := 1
		if len(versions) > 0 {
			version = versions[len(versions)-1].version + 1
		}
		if in.Version != 0 {
			if mode != ModeImport {
				return regclient.Errorf(regclient.CodeOperationNotPermitted, "a version may only be given in IMPORT mode")
			}
			if in.Version < version {
				return regclient.Errorf(regclient.CodeInvalidVersion, "version %d of subject %s is already taken", in.Version, subject)
			}
			version = in.Version
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO registry_versions (subject, version, schema_id, deleted) VALUES ($1, $2, $3, FALSE)`, subject, version, id)
		return err
	})
	return id, err
}

// parse compiles a schema the way a client sent it.
func (r *Registry) parse(ctx context.Context, in regclient.SchemaInput) (*regclient.Schema, error) {
	if in.Type != "" && in.Type != regclient.TypeProtobuf {
		return nil, regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema: schema type %s is not supported; this registry holds PROTOBUF schemas", in.Type)
	}
	if strings.TrimSpace(in.Text) == "" {
		return nil, regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema: the schema is empty")
	}
	x := r.current()
	deps, err := x.resolveRefs(in.References)
	if err != nil && regclient.IsNotFound(err) && r.refreshIfStale(ctx) {
		x = r.current()
		deps, err = x.resolveRefs(in.References)
	}
	if err != nil {
		return nil, err
	}
	s, err := regclient.Compile(in.Text, deps)
	if err != nil {
		return nil, err
	}
	s.References = in.References
	s.Metadata, s.RuleSet = in.Metadata, in.RuleSet
	return s, nil
}

// LookUp finds the version of subject that holds the given schema, in
// canonical form when in.Normalize or the subject's configuration says so.
func (r *Registry) LookUp(ctx context.Context, subject string, in regclient.SchemaInput, deleted bool) (*regclient.SubjectVersion, error) {
	in.Normalize = in.Normalize || r.current().normalizes(subject)
	s, err := r.parse(ctx, in)
	if err != nil {
		return nil, err
	}
	return retry(ctx, r, func(x *index) (*regclient.SubjectVersion, error) {
		vs := x.subjects[subject]
		if len(vs) == 0 || latestLive(vs) == nil && !deleted {
			return nil, regclient.Errorf(regclient.CodeSubjectNotFound, "Subject '%s' not found.", subject)
		}
		for i := len(vs) - 1; i >= 0; i-- {
			v := vs[i]
			if have, ok := x.schemas[v.schemaID]; ok && sameSchema(have, s, in.Normalize) && (deleted || !v.deleted) {
				return &regclient.SubjectVersion{Subject: subject, Version: v.version, Schema: have, Deleted: v.deleted}, nil
			}
		}
		return nil, regclient.Errorf(regclient.CodeSchemaNotFound, "Schema not found")
	})
}

// retry runs a read against the index and, if it found nothing, once more
// after picking up writes made through other instances.
func retry[T any](ctx context.Context, r *Registry, read func(*index) (T, error)) (T, error) {
	v, err := read(r.current())
	if err != nil && regclient.IsNotFound(err) && r.refreshIfStale(ctx) {
		return read(r.current())
	}
	return v, err
}

// SchemaByID returns the schema with a global id. A schema is found while
// any version of any subject, soft-deleted or not, uses it.
func (r *Registry) SchemaByID(ctx context.Context, id int32) (*regclient.Schema, error) {
	return retry(ctx, r, func(x *index) (*regclient.Schema, error) {
		s, ok := x.schemas[id]
		if !ok || len(x.usesOf(id, true)) == 0 {
			return nil, regclient.Errorf(regclient.CodeSchemaNotFound, "Schema %d not found", id)
		}
		return s, nil
	})
}

// usesOf lists the versions that use schema id, by subject then version.
func (x *index) usesOf(id int32, deleted bool) []regclient.SubjectVersion {
	var uses []regclient.SubjectVersion
	for subject, vs := range x.subjects {
		for _, v := range vs {
			if v.schemaID == id && (deleted || !v.deleted) {
				uses = append(uses, regclient.SubjectVersion{Subject: subject, Version: v.version, Schema: x.schemas[id], Deleted: v.deleted})
			}
		}
	}
	slices.SortFunc(uses, func(a, b regclient.SubjectVersion) int {
		if c := strings.Compare(a.Subject, b.Subject); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	return uses
}

// VersionsByID lists the subject versions that use schema id.
func (r *Registry) VersionsByID(ctx context.Context, id int32, deleted bool) ([]regclient.SubjectVersion, error) {
	return retry(ctx, r, func(x *index) ([]regclient.SubjectVersion, error) {
		if _, ok := x.schemas[id]; !ok {
			return nil, regclient.Errorf(regclient.CodeSchemaNotFound, "Schema %d not found", id)
		}
		uses := x.usesOf(id, deleted)
		if len(uses) == 0 {
			return nil, regclient.Errorf(regclient.CodeSchemaNotFound, "Schema %d not found", id)
		}
		return uses, nil
	})
}

// Subjects lists the subjects with a live version (or any version, with
// deleted) whose names start with prefix, sorted.
func (r *Registry) Subjects(_ context.Context, prefix string, deleted bool) []string {
	x := r.current()
	subjects := []string{}
	for s, vs := range x.subjects {
		if strings.HasPrefix(s, prefix) && (deleted || latestLive(vs) != nil) {
			subjects = append(subjects, s)
		}
	}
	slices.Sort(subjects)
	return subjects
}

// SchemaFilter selects the versions Schemas lists.
type SchemaFilter struct {
	// SubjectPrefix keeps subjects whose names start with it.
	SubjectPrefix string
	// Deleted keeps soft-deleted versions too.
	Deleted bool
	// LatestOnly keeps each subject's latest version (among those kept).
	LatestOnly bool
	// Offset skips that many versions of the result; Limit, when above
	// zero, keeps at most that many.
	Offset, Limit int
}

// Schemas lists the versions f selects, by subject then version, as
// Confluent's GET /schemas does.
func (r *Registry) Schemas(_ context.Context, f SchemaFilter) []regclient.SubjectVersion {
	x := r.current()
	subjects := make([]string, 0, len(x.subjects))
	for s := range x.subjects {
		if strings.HasPrefix(s, f.SubjectPrefix) {
			subjects = append(subjects, s)
		}
	}
	slices.Sort(subjects)
	out := []regclient.SubjectVersion{}
	for _, subject := range subjects {
		var kept []regclient.SubjectVersion
		for _, v := range x.subjects[subject] {
			s, ok := x.schemas[v.schemaID]
			if !ok || v.deleted && !f.Deleted {
				continue // a schema that does not compile is not served
			}
			kept = append(kept, regclient.SubjectVersion{Subject: subject, Version: v.version, Schema: s, Deleted: v.deleted})
		}
		if f.LatestOnly && len(kept) > 1 {
			kept = kept[len(kept)-1:]
		}
		out = append(out, kept...)
	}
	out = out[min(max(f.Offset, 0), len(out)):]
	if f.Limit > 0 && f.Limit < len(out) {
		out = out[:f.Limit]
	}
	return out
}

// Versions lists a subject's version numbers.
func (r *Registry) Versions(ctx context.Context, subject string, deleted bool) ([]int, error) {
	return retry(ctx, r, func(x *index) ([]int, error) {
		vs := x.subjects[subject]
		if len(vs) == 0 || latestLive(vs) == nil && !deleted {
			return nil, regclient.Errorf(regclient.CodeSubjectNotFound, "Subject '%s' not found.", subject)
		}
		out := []int{}
		for _, v := range vs {
			if deleted || !v.deleted {
				out = append(out, v.version)
			}
		}
		return out, nil
	})
}

// Version returns one version of a subject; version -1 is the latest.
func (r *Registry) Version(ctx context.Context, subject string, version int, deleted bool) (*regclient.SubjectVersion, error) {
	return retry(ctx, r, func(x *index) (*regclient.SubjectVersion, error) {
		v, err := x.version(subject, version, deleted)
		if err != nil {
			return nil, err
		}
		s, ok := x.schemas[v.schemaID]
		if !ok {
			return nil, regclient.Errorf(regclient.CodeSchemaNotFound, "Schema %d not found", v.schemaID)
		}
		return &regclient.SubjectVersion{Subject: subject, Version: v.version, Schema: s, Deleted: v.deleted}, nil
	})
}

// ReferencedBy lists the ids of live schemas that reference a subject's
// version.
func (r *Registry) ReferencedBy(ctx context.Context, subject string, version int) ([]int32, error) {
	sv, err := r.Version(ctx, subject, version, true)
	if err != nil {
		return nil, err
	}
	return r.current().referrers(subject, sv.Version, false), nil
}

// referrers lists the schemas that reference a subject's version and are
// used by a live version, or by any version with deleted: a permanent delete
// must not strand a soft-deleted schema that still needs its reference.
func (x *index) referrers(subject string, version int, deleted bool) []int32 {
	ids := []int32{}
	for id, s := range x.schemas {
		if len(x.usesOf(id, deleted)) == 0 {
			continue
		}
		for _, ref := range s.References {
			if ref.Subject == subject && ref.Version == version {
				ids = append(ids, id)
				break
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// DeleteSubject deletes every version of a subject: softly, or for good
// once they are soft-deleted. It returns the versions deleted.
func (r *Registry) DeleteSubject(ctx context.Context, subject string, permanent bool) ([]int, error) {
	if err := r.writable(ctx, subject); err != nil {
		return nil, err
	}
	var deleted []int
	err := r.tx(ctx, func(tx *sql.Tx) error {
		deleted = nil
		vs, err := subjectVersions(ctx, tx, subject)
		if err != nil {
			return err
		}
		if len(vs) == 0 {
			return regclient.Errorf(regclient.CodeSubjectNotFound, "Subject '%s' not found.", subject)
		}
		live := latestLive(vs) != nil
		switch {
		case !permanent && !live:
			return regclient.Errorf(regclient.CodeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", subject)
		case permanent && live:
			return regclient.Errorf(regclient.CodeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", subject)
		}
		x := r.current()
		for _, v := range vs {
			if refs := x.referrers(subject, v.version, permanent); len(refs) > 0 {
				return regclient.Errorf(regclient.CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}: schema ids %v", subject, v.version, refs)
			}
			deleted = append(deleted, v.version)
		}
		if permanent {
			_, err = tx.ExecContext(ctx, `DELETE FROM registry_versions WHERE subject = $1`, subject)
			if err == nil {
				_, err = tx.ExecContext(ctx, `DELETE FROM registry_settings WHERE subject = $1`, subject)
			}
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE registry_versions SET deleted = TRUE WHERE subject = $1`, subject)
		}
		return err
	})
	return deleted, err
}

// DeleteVersion deletes one version of a subject: softly, or for good once
// it is soft-deleted. Version -1 is the latest.
func (r *Registry) DeleteVersion(ctx context.Context, subject string, version int, permanent bool) (int, error) {
	if err := r.writable(ctx, subject); err != nil {
		return 0, err
	}
	var deleted int
	err := r.tx(ctx, func(tx *sql.Tx) error {
		vs, err := subjectVersions(ctx, tx, subject)
		if err != nil {
			return err
		}
		// A numbered version is found even when soft-deleted, so that
		// deleting it softly again is 40406, as in Confluent; "latest" is
		// the latest live version unless the delete is permanent.
		x := &index{subjects: map[string][]versionRow{subject: vs}}
		v, err := x.version(subject, version, permanent || version != -1)
		if err != nil {
			return err
		}
		switch {
		case !permanent && v.deleted:
			return regclient.Errorf(regclient.CodeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", subject, v.version)
		case permanent && !v.deleted:
			return regclient.Errorf(regclient.CodeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", subject, v.version)
		}
		if refs := r.current().referrers(subject, v.version, permanent); len(refs) > 0 {
			return regclient.Errorf(regclient.CodeReferenceExists, "One or more references exist to the schema {subject=%s,version=%d}: schema ids %v", subject, v.version, refs)
		}
		deleted = v.version
		if permanent {
			_, err = tx.ExecContext(ctx, `DELETE FROM registry_versions WHERE subject = $1 AND version = $2`, subject, v.version)
		} else {
			_, err = tx.ExecContext(ctx, `UPDATE registry_versions SET deleted = TRUE WHERE subject = $1 AND version = $2`, subject, v.version)
		}
		return err
	})
	return deleted, err
}

// writable refuses changes to a subject in read-only mode.
func (r *Registry) writable(ctx context.Context, subject string) error {
	mode, err := r.Mode(ctx, subject, true)
	if err != nil {
		return err
	}
	if mode == ModeReadOnly {
		return regclient.Errorf(regclient.CodeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	return nil
}

// CheckCompatibility reports why a schema could not be registered as the
// next version of subject, compared with one version (or -1: the latest,
// or 0: all live versions, as the level's transitivity says). An empty
// report means compatible. As in Confluent, a subject without live
// versions has nothing to be incompatible with when checked against its
// latest or all versions; a numbered version must exist.
func (r *Registry) CheckCompatibility(ctx context.Context, subject string, version int, in regclient.SchemaInput) ([]string, error) {
	s, err := r.parse(ctx, in)
	if err != nil {
		return nil, err
	}
	level, err := r.Compatibility(ctx, subject, true)
	if err != nil {
		return nil, err
	}
	x := r.current()
	var existing []*regclient.Schema
	switch {
	case version == 0:
		for _, v := range x.subjects[subject] {
			if have, ok := x.schemas[v.schemaID]; ok && !v.deleted {
				existing = append(existing, have)
			}
		}
	case version == -1 && latestLive(x.subjects[subject]) == nil:
		// Nothing to compare with.
	default:
		sv, err := r.Version(ctx, subject, version, false)
		if err != nil {
			return nil, err
		}
		existing = []*regclient.Schema{sv.Schema}
	}
	return checkCompatibility(level, s, existing), nil
}
