package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/registry/regclient"
)

// migrations create the registry's tables. Append only.
var migrations = []string{
	`CREATE TABLE registry_schemas (
		id BIGINT PRIMARY KEY,
		schema_type TEXT NOT NULL,
		schema_text TEXT NOT NULL,
		refs TEXT NOT NULL,
		fingerprint TEXT NOT NULL UNIQUE
	)`,
	`CREATE TABLE registry_versions (
		subject TEXT NOT NULL,
		version BIGINT NOT NULL,
		schema_id BIGINT NOT NULL REFERENCES registry_schemas (id),
		deleted BOOLEAN NOT NULL DEFAULT FALSE,
		PRIMARY KEY (subject, version)
	)`,
	`CREATE TABLE registry_settings (
		subject TEXT NOT NULL,
		kind TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (subject, kind)
	)`,
	// Schema ids come from here, never from max(id): an id is not reused,
	// even after every version using it is permanently deleted.
	`CREATE TABLE registry_ids (name TEXT PRIMARY KEY, next_id BIGINT NOT NULL)`,
	`INSERT INTO registry_ids (name, next_id) VALUES ('schema', 1)`,
	// Confluent's data contract parts of a schema, as JSON; NULL for none.
	`ALTER TABLE registry_schemas ADD COLUMN metadata TEXT`,
	`ALTER TABLE registry_schemas ADD COLUMN rule_set TEXT`,
}

// Setting kinds in registry_settings; the global setting has subject "".
const (
	settingCompatibility = "compatibility"
	settingMode          = "mode"
	// settingNormalize is "true" or "false": whether registration, lookup
	// and compatibility checks normalize schemas when the request does not
	// ask to.
	settingNormalize = "normalize"
)

// schemaRow is a row of registry_schemas.
type schemaRow struct {
	id          int32
	typ         string
	text        string
	refs        []regclient.Reference
	fingerprint string
	metadata    json.RawMessage
	ruleSet     json.RawMessage
}

// versionRow is a row of registry_versions.
type versionRow struct {
	subject  string
	version  int
	schemaID int32
	deleted  bool
}

// snapshot is everything the store holds, read in one transaction.
type snapshot struct {
	schemas  []schemaRow // only those with id > the caller's afterID
	versions []versionRow
	settings map[[2]string]string // (subject, kind) -> value
}

// readSnapshot reads the store in one transaction: every version and
// setting, and the schemas the caller lacks (have reports those it holds).
// Schemas are immutable, so only missing ones are read, whatever their ids:
// IMPORT mode may add ids below the highest.
func readSnapshot(ctx context.Context, db *sqldb.DB, have func(int32) bool) (*snapshot, error) {
	snap := &snapshot{settings: make(map[[2]string]string)}
	err := db.Tx(ctx, func(tx *sql.Tx) error {
		snap.schemas, snap.versions = nil, nil
		ids, err := tx.QueryContext(ctx, `SELECT id FROM registry_schemas`)
		if err != nil {
			return err
		}
		missing := false
		for ids.Next() {
			var id int32
			if err := ids.Scan(&id); err != nil {
				ids.Close()
				return err
			}
			missing = missing || !have(id)
		}
		if err := ids.Close(); err != nil {
			return err
		}
		if missing {
			rows, err := tx.QueryContext(ctx, `SELECT id, schema_type, schema_text, refs, fingerprint, metadata, rule_set FROM registry_schemas ORDER BY id`)
			if err != nil {
				return err
			}
			for rows.Next() {
				var r schemaRow
				var refs string
				var metadata, ruleSet sql.NullString
				if err := rows.Scan(&r.id, &r.typ, &r.text, &refs, &r.fingerprint, &metadata, &ruleSet); err != nil {
					rows.Close()
					return err
				}
				if have(r.id) {
					continue
				}
				if metadata.Valid {
					r.metadata = json.RawMessage(metadata.String)
				}
				if ruleSet.Valid {
					r.ruleSet = json.RawMessage(ruleSet.String)
				}
				if err := json.Unmarshal([]byte(refs), &r.refs); err != nil {
					rows.Close()
					return fmt.Errorf("schema %d references: %w", r.id, err)
				}
				snap.schemas = append(snap.schemas, r)
			}
			if err := rows.Close(); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT subject, version, schema_id, deleted FROM registry_versions ORDER BY subject, version`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var v versionRow
			if err := rows.Scan(&v.subject, &v.version, &v.schemaID, &v.deleted); err != nil {
				rows.Close()
				return err
			}
			snap.versions = append(snap.versions, v)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT subject, kind, value FROM registry_settings`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var subject, kind, value string
			if err := rows.Scan(&subject, &kind, &value); err != nil {
				return err
			}
			snap.settings[[2]string{subject, kind}] = value
		}
		return rows.Err()
	})
	if err != nil {
		return nil, storeError("read registry", err)
	}
	return snap, nil
}

// insertSchema stores a new schema, or finds the one with the same
// fingerprint, and returns its id. A non-zero id (IMPORT mode) is used as is.
func insertSchema(ctx context.Context, tx *sql.Tx, s *regclient.Schema, refs []regclient.Reference, id int32) (int32, error) {
	var existing int32
	err := tx.QueryRowContext(ctx, `SELECT id FROM registry_schemas WHERE fingerprint = $1`, s.Identity(false)).Scan(&existing)
	switch {
	case err == nil:
		if id != 0 && id != existing {
			return 0, regclient.Errorf(regclient.CodeInvalidSchema, "schema is already registered with id %d, not %d", existing, id)
		}
		return existing, nil
	case err != sql.ErrNoRows:
		return 0, err
	}
	if id == 0 {
		if id, err = nextID(ctx, tx); err != nil {
			return 0, err
		}
	} else {
		// Keep the sequence ahead of imported ids, as long as it stays an
		// int32: an id imported at the top is skipped over by nextID.
		if id < math.MaxInt32 {
			if _, err := tx.ExecContext(ctx, `UPDATE registry_ids SET next_id = $1 WHERE name = 'schema' AND next_id <= $1`, int64(id)+1); err != nil {
				return 0, err
			}
		}
		taken, err := idTaken(ctx, tx, id)
		if err != nil {
			return 0, err
		}
		if taken {
			return 0, regclient.Errorf(regclient.CodeInvalidSchema, "schema id %d is already taken by another schema", id)
		}
	}
	if refs == nil {
		refs = []regclient.Reference{}
	}
	refsJSON, err := json.Marshal(refs)
	if err != nil {
		return 0, err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO registry_schemas (id, schema_type, schema_text, refs, fingerprint, metadata, rule_set) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		id, s.Type, s.Text, string(refsJSON), s.Identity(false), nullJSON(s.Metadata), nullJSON(s.RuleSet))
	return id, err
}

// nextID takes the next schema id from the sequence, passing over ids that
// IMPORT mode took. The sequence stays within int32: one found beyond it
// (an id imported at the top of int32 once pushed it there, and every
// later registration failed) restarts after the highest id below the top,
// once; if that is taken too, every id is, and the registration fails
// rather than storing an id no client can read.
func nextID(ctx context.Context, tx *sql.Tx) (int32, error) {
	restarted := false
	for {
		var next int64
		err := tx.QueryRowContext(ctx, `UPDATE registry_ids SET next_id = next_id + 1 WHERE name = 'schema' AND next_id <= $1 RETURNING next_id - 1`, int64(math.MaxInt32)).Scan(&next)
		switch {
		case errors.Is(err, sql.ErrNoRows) && !restarted:
			restarted = true
			if _, err := tx.ExecContext(ctx, `UPDATE registry_ids SET next_id = (SELECT COALESCE(MAX(id), 0) + 1 FROM registry_schemas WHERE id < $1) WHERE name = 'schema'`, int64(math.MaxInt32)); err != nil {
				return 0, err
			}
			continue
		case errors.Is(err, sql.ErrNoRows):
			return 0, regclient.Errorf(regclient.CodeInvalidSchema, "schema ids are exhausted: every id up to %d is taken", math.MaxInt32)
		case err != nil:
			return 0, err
		}
		taken, err := idTaken(ctx, tx, int32(next))
		if err != nil || !taken {
			return int32(next), err
		}
	}
}

func idTaken(ctx context.Context, tx *sql.Tx, id int32) (bool, error) {
	var taken bool
	err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM registry_schemas WHERE id = $1)`, id).Scan(&taken)
	return taken, err
}

func subjectVersions(ctx context.Context, tx *sql.Tx, subject string) ([]versionRow, error) {
	rows, err := tx.QueryContext(ctx, `SELECT subject, version, schema_id, deleted FROM registry_versions WHERE subject = $1 ORDER BY version`, subject)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var vs []versionRow
	for rows.Next() {
		var v versionRow
		if err := rows.Scan(&v.subject, &v.version, &v.schemaID, &v.deleted); err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	return vs, rows.Err()
}

func setting(ctx context.Context, tx *sql.Tx, subject, kind string) (string, bool, error) {
	var v string
	err := tx.QueryRowContext(ctx, `SELECT value FROM registry_settings WHERE subject = $1 AND kind = $2`, subject, kind).Scan(&v)
	if err == sql.ErrNoRows {
		return "", false, nil
	}
	return v, err == nil, err
}

func putSetting(ctx context.Context, tx *sql.Tx, subject, kind, value string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO registry_settings (subject, kind, value) VALUES ($1, $2, $3)
		ON CONFLICT (subject, kind) DO UPDATE SET value = excluded.value`, subject, kind, value)
	return err
}

// lockSubject makes writers to one subject take turns until the end of tx.
// SQLite needs nothing: its transactions write one at a time.
func lockSubject(ctx context.Context, db *sqldb.DB, tx *sql.Tx, subject string) error {
	if db.Engine != sqldb.Postgres {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "cairn-registry:"+subject)
	return err
}

// nullJSON stores absent JSON as NULL.
func nullJSON(b json.RawMessage) sql.NullString {
	return sql.NullString{String: string(b), Valid: len(b) > 0}
}
