package registry

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/registry/compat"
	"github.com/cairnhq/cairn/registry/regclient"
)

// The registry's modes.
const (
	ModeReadWrite = "READWRITE"
	ModeReadOnly  = "READONLY"
	ModeImport    = "IMPORT"
)

// DefaultCompatibility is the global level until one is set.
const DefaultCompatibility = "BACKWARD"

// Compatibility returns a subject's compatibility level; subject "" is the
// global level. Without a level of its own, a subject has the global level
// if defaultToGlobal, else error 40408.
func (r *Registry) Compatibility(_ context.Context, subject string, defaultToGlobal bool) (string, error) {
	return r.current().setting(subject, settingCompatibility, defaultToGlobal, DefaultCompatibility,
		regclient.Errorf(regclient.CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", subject))
}

// Mode returns a subject's mode; subject "" is the global mode. Without a
// mode of its own, a subject has the global mode if defaultToGlobal, else
// error 40409.
func (r *Registry) Mode(_ context.Context, subject string, defaultToGlobal bool) (string, error) {
	return r.current().setting(subject, settingMode, defaultToGlobal, ModeReadWrite,
		regclient.Errorf(regclient.CodeSubjectModeNotFound, "Subject '%s' does not have subject-level mode configured", subject))
}

func (x *index) setting(subject, kind string, defaultToGlobal bool, def string, notFound error) (string, error) {
	if v, ok := x.settings[[2]string{subject, kind}]; ok {
		return v, nil
	}
	if subject != "" && !defaultToGlobal {
		return "", notFound
	}
	if v, ok := x.settings[[2]string{"", kind}]; ok {
		return v, nil
	}
	return def, nil
}

// SetCompatibility sets the compatibility level of a subject, or the global
// one for subject "", and returns the level's canonical name.
func (r *Registry) SetCompatibility(ctx context.Context, subject, level string) (string, error) {
	l, err := compat.ParseLevel(level)
	if err != nil {
		return "", regclient.Errorf(regclient.CodeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
	}
	if err := r.checkSettingSubject(subject); err != nil {
		return "", err
	}
	return l.String(), r.tx(ctx, func(tx *sql.Tx) error {
		return putSetting(ctx, tx, subject, settingCompatibility, l.String())
	})
}

// SetMode sets the mode of a subject, or the global one for subject "".
// As in Confluent, IMPORT needs force when the subject (or, for the global
// mode, the registry) already holds versions, soft-deleted ones included:
// imported ids could otherwise collide with the ones it gave out; without
// force that is error 42205.
func (r *Registry) SetMode(ctx context.Context, subject, mode string, force bool) (string, error) {
	m := strings.ToUpper(mode)
	if m != ModeReadWrite && m != ModeReadOnly && m != ModeImport {
		return "", regclient.Errorf(regclient.CodeInvalidMode, "Invalid mode. Valid values are READWRITE, READONLY and IMPORT")
	}
	if err := r.checkSettingSubject(subject); err != nil {
		return "", err
	}
	return m, r.tx(ctx, func(tx *sql.Tx) error {
		if m == ModeImport && !force {
			var held bool
			err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM registry_versions WHERE subject = $1 OR $1 = '')`, subject).Scan(&held)
			if err != nil {
				return fmt.Errorf("look for versions: %w", err)
			}
			if held {
				return regclient.Errorf(regclient.CodeOperationNotPermitted, "Cannot import since found existing subjects")
			}
		}
		return putSetting(ctx, tx, subject, settingMode, m)
	})
}

func (r *Registry) checkSettingSubject(subject string) error {
	if subject == "" {
		return nil
	}
	return checkSubject(subject)
}

// DeleteCompatibility removes a subject's own level (or resets the global
// one) and returns the level it had. A subject without a level of its own
// is error 40401, as in Confluent.
func (r *Registry) DeleteCompatibility(ctx context.Context, subject string) (string, error) {
	return r.deleteSetting(ctx, subject, settingCompatibility, r.Compatibility)
}

// DeleteMode removes a subject's own mode (or resets the global one) and
// returns the mode it had. A subject without a mode of its own is error
// 40401, as in Confluent.
func (r *Registry) DeleteMode(ctx context.Context, subject string) (string, error) {
	return r.deleteSetting(ctx, subject, settingMode, r.Mode)
}

func (r *Registry) deleteSetting(ctx context.Context, subject, kind string, get func(context.Context, string, bool) (string, error)) (string, error) {
	prev, err := get(ctx, subject, false)
	if err != nil {
		if subject != "" && regclient.IsNotFound(err) {
			return "", regclient.Errorf(regclient.CodeSubjectNotFound, "Subject '%s' not found.", subject)
		}
		return "", err
	}
	return prev, r.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM registry_settings WHERE subject = $1 AND kind = $2`, subject, kind)
		return err
	})
}

// checkCompatibility compares a candidate with a subject's live versions,
// oldest first, and describes each incompatibility.
func checkCompatibility(level string, candidate *regclient.Schema, existing []*regclient.Schema) []string {
	l, err := compat.ParseLevel(level)
	if err != nil {
		l = compat.FullTransitive // a stored level we cannot read: be strict
	}
	files := make([]protoreflect.FileDescriptor, len(existing))
	for i, s := range existing {
		files[i] = s.File
	}
	problems := compat.Check(l, candidate.File, files)
	out := make([]string, len(problems))
	for i, p := range problems {
		out[i] = p.String()
	}
	return out
}
