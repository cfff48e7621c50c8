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
	c, err := r.SetConfig(ctx, subject, level, nil)
	return c.Compatibility, err
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

// Config is a subject's configuration, or the global one, as Confluent's
// /config serves it.
type Config struct {
	// Compatibility is the compatibility level; "" for a subject that has
	// only a normalize setting of its own.
	Compatibility string
	// Normalize, when set and true, makes Register, LookUp and CheckSet
	// compare schemas with registered ones in canonical form, as if every
	// request asked for it (?normalize=true); nil when not set.
	// Compatibility checks are structural and need no normalizing.
	Normalize *bool
}

// Config returns a subject's configuration; subject "" is the global one,
// whose level is DefaultCompatibility until one is set. With
// defaultToGlobal, each setting the subject lacks is the global one;
// without it, a subject with no setting of its own is error 40408.
func (r *Registry) Config(_ context.Context, subject string, defaultToGlobal bool) (Config, error) {
	x := r.current()
	var c Config
	level, hasLevel := x.settings[[2]string{subject, settingCompatibility}]
	norm, hasNorm := x.settings[[2]string{subject, settingNormalize}]
	if subject != "" && !defaultToGlobal && !hasLevel && !hasNorm {
		return Config{}, regclient.Errorf(regclient.CodeSubjectConfigNotFound, "Subject '%s' does not have subject-level compatibility configured", subject)
	}
	if hasLevel {
		c.Compatibility = level
	}
	if hasNorm {
		c.Normalize = new(norm == "true")
	}
	if subject == "" || defaultToGlobal {
		if !hasLevel {
			c.Compatibility = DefaultCompatibility
			if v, ok := x.settings[[2]string{"", settingCompatibility}]; ok {
				c.Compatibility = v
			}
		}
		if v, ok := x.settings[[2]string{"", settingNormalize}]; !hasNorm && ok {
			c.Normalize = new(v == "true")
		}
	}
	return c, nil
}

// normalizes reports whether a subject's configuration (or else the global
// one) asks for normalized schemas.
func (x *index) normalizes(subject string) bool {
	if v, ok := x.settings[[2]string{subject, settingNormalize}]; ok {
		return v == "true"
	}
	return x.settings[[2]string{"", settingNormalize}] == "true"
}

// SetConfig sets a subject's configuration, or the global one for subject
// "": its compatibility level unless level is "", its normalize setting
// unless normalize is nil; one of them must be given. It returns the
// subject's own configuration afterwards, the level by its canonical name.
func (r *Registry) SetConfig(ctx context.Context, subject, level string, normalize *bool) (Config, error) {
	var l compat.Level
	if level != "" || normalize == nil {
		var err error
		if l, err = compat.ParseLevel(level); err != nil {
			return Config{}, regclient.Errorf(regclient.CodeInvalidCompatibility, "Invalid compatibility level. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive")
		}
	}
	if err := r.checkSettingSubject(subject); err != nil {
		return Config{}, err
	}
	err := r.tx(ctx, func(tx *sql.Tx) error {
		if level != "" {
			if err := putSetting(ctx, tx, subject, settingCompatibility, l.String()); err != nil {
				return err
			}
		}
		if normalize != nil {
			return putSetting(ctx, tx, subject, settingNormalize, fmt.Sprint(*normalize))
		}
		return nil
	})
	if err != nil {
		return Config{}, err
	}
	return r.Config(ctx, subject, false)
}

// DeleteConfig removes a subject's own configuration (or resets the global
// one) and returns what it was. A subject without a configuration of its
// own is error 40401, as in Confluent.
func (r *Registry) DeleteConfig(ctx context.Context, subject string) (Config, error) {
	prev, err := r.Config(ctx, subject, false)
	if err != nil {
		if regclient.IsNotFound(err) {
			return Config{}, regclient.Errorf(regclient.CodeSubjectNotFound, "Subject '%s' not found.", subject)
		}
		return Config{}, err
	}
	return prev, r.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM registry_settings WHERE subject = $1 AND kind IN ($2, $3)`, subject, settingCompatibility, settingNormalize)
		return err
	})
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
