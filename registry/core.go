package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/registry/regclient"
)

// Options configures Open.
type Options struct {
	// DB holds the registry's tables; Open migrates them. Required.
	DB *sqldb.DB
	// RefreshInterval is how often the index picks up writes made by other
	// registry instances sharing the database. Zero means 2 seconds.
	RefreshInterval time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Registry is the schema registry's core: subjects and their versions,
// schemas by global id, compatibility levels and modes, stored in SQL and
// read from an in-memory index. The REST and gRPC APIs are thin adapters
// over it.
//
// Registry is safe for concurrent use.
type Registry struct {
	db  *sqldb.DB
	log *slog.Logger

	mu  sync.RWMutex
	idx *index

	refreshMu   sync.Mutex // serializes refreshes
	lastRefresh time.Time
	broken      map[int32]bool // stored schemas that do not compile, logged once; under refreshMu

	stop chan struct{}
	done chan struct{}
}

// index is the registry's state in memory. It is replaced, never mutated,
// so readers may keep one without a lock.
type index struct {
	schemas  map[int32]*regclient.Schema
	subjects map[string][]versionRow // by version, ascending
	settings map[[2]string]string
}

// Open migrates the database, loads the index and starts following writes
// made by other instances until Close.
func Open(ctx context.Context, opts Options) (*Registry, error) {
	if opts.DB == nil {
		return nil, errors.New("registry: no database")
	}
	if opts.RefreshInterval <= 0 {
		opts.RefreshInterval = 2 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := opts.DB.Migrate(ctx, "registry", migrations); err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	r := &Registry{
		db:     opts.DB,
		log:    opts.Logger,
		idx:    &index{schemas: map[int32]*regclient.Schema{}, subjects: map[string][]versionRow{}, settings: map[[2]string]string{}},
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		broken: make(map[int32]bool),
	}
	if err := r.refresh(ctx); err != nil {
		return nil, fmt.Errorf("registry: load: %w", err)
	}
	go r.follow(opts.RefreshInterval)
	return r, nil
}

// Close stops following other instances' writes. It does not close the
// database.
func (r *Registry) Close() {
	close(r.stop)
	<-r.done
}

func (r *Registry) follow(every time.Duration) {
	defer close(r.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			if err := r.refresh(ctx); err != nil {
				r.log.Warn("registry refresh", "error", err)
			}
			cancel()
		}
	}
}

func (r *Registry) current() *index {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.idx
}

// refresh rebuilds the index from the store. Schemas are immutable, so only
// new ones are read and compiled.
func (r *Registry) refresh(ctx context.Context) error {
	r.refreshMu.Lock()
	defer r.refreshMu.Unlock()
	old := r.current()
	// A stored schema that did not compile is not read again: it would
	// not compile the next time either.
	snap, err := readSnapshot(ctx, r.db, func(id int32) bool { _, ok := old.schemas[id]; return ok || r.broken[id] })
	if err != nil {
		return err
	}
	next := &index{
		schemas:  make(map[int32]*regclient.Schema, len(old.schemas)+len(snap.schemas)),
		subjects: make(map[string][]versionRow),
		settings: snap.settings,
	}
	for id, s := range old.schemas {
		next.schemas[id] = s
	}
	for _, v := range snap.versions {
		next.subjects[v.subject] = append(next.subjects[v.subject], v)
	}
	// Compile the new schemas, each after those it references: pass after
	// pass, until a pass compiles nothing more.
	pending := snap.schemas
	for len(pending) > 0 {
		var failed []schemaRow
		var errs []error
		for _, row := range pending {
			s, err := next.build(row)
			if err != nil {
				failed, errs = append(failed, row), append(errs, err)
				continue
			}
			next.schemas[row.id] = s
		}
		if len(failed) == len(pending) {
			// A stored schema that does not compile stays out of the index
			// rather than taking the whole registry down; it is said once.
			for i, row := range failed {
				if !r.broken[row.id] {
					r.broken[row.id] = true
					r.log.Error("registry: stored schema does not compile", "id", row.id, "error", errs[i])
				}
			}
			break
		}
		pending = failed
	}
	r.mu.Lock()
	r.idx = next
	r.lastRefresh = time.Now()
	r.mu.Unlock()
	return nil
}

// refreshIfStale refreshes after a read missed, at most every 100ms, so that
// a write made through another instance is seen at once.
func (r *Registry) refreshIfStale(ctx context.Context) bool {
	r.mu.RLock()
	stale := time.Since(r.lastRefresh) > 100*time.Millisecond
	r.mu.RUnlock()
	return stale && r.refresh(ctx) == nil
}

// build compiles a stored schema row against the schemas it references.
func (x *index) build(row schemaRow) (*regclient.Schema, error) {
	deps, err := x.resolveRefs(row.refs)
	if err != nil {
		return nil, err
	}
	s, err := regclient.Compile(row.text, deps)
	if err != nil {
		return nil, err
	}
	s.ID, s.References = row.id, row.refs
	s.Metadata, s.RuleSet = row.metadata, row.ruleSet
	return s, nil
}

// resolveRefs finds the schemas that references name.
func (x *index) resolveRefs(refs []regclient.Reference) ([]regclient.Dependency, error) {
	deps := make([]regclient.Dependency, 0, len(refs))
	for _, ref := range refs {
		if ref.Name == "" {
			return nil, regclient.Errorf(regclient.CodeInvalidSchema, "invalid schema: a reference has no name")
		}
		v, err := x.version(ref.Subject, ref.Version, true)
		if err != nil {
			return nil, regclient.Errorf(regclient.CodeInvalidSchema, "invalid schema: reference %q to subject %q version %d: %v", ref.Name, ref.Subject, ref.Version, err)
		}
		s, ok := x.schemas[v.schemaID]
		if !ok {
			return nil, regclient.Errorf(regclient.CodeInvalidSchema, "invalid schema: reference %q: schema %d is not loaded", ref.Name, v.schemaID)
		}
		deps = append(deps, regclient.Dependency{Name: ref.Name, Schema: s})
	}
	return deps, nil
}

func latestLive(vs []versionRow) *versionRow {
	for i := len(vs) - 1; i >= 0; i-- {
		if !vs[i].deleted {
			return &vs[i]
		}
	}
	return nil
}

// version finds a subject's version; version -1 is the latest.
func (x *index) version(subject string, version int, deleted bool) (*versionRow, error) {
	vs := x.subjects[subject]
	live := latestLive(vs) != nil
	if len(vs) == 0 || !live && !deleted {
		return nil, regclient.Errorf(regclient.CodeSubjectNotFound, "Subject '%s' not found.", subject)
	}
	if version == -1 {
		for i := len(vs) - 1; i >= 0; i-- {
			if deleted || !vs[i].deleted {
				return &vs[i], nil
			}
		}
	}
	for i := range vs {
		if vs[i].version == version {
			if vs[i].deleted && !deleted {
				return nil, regclient.Errorf(regclient.CodeVersionNotFound, "Version %d not found.", version)
			}
			return &vs[i], nil
		}
	}
	return nil, regclient.Errorf(regclient.CodeVersionNotFound, "Version %d not found.", version)
}

// checkSubject rejects subject names no client could mean. A name must be
// UTF-8: gRPC's strings and JSON carry nothing else, so a stored name that
// is not would break every listing.
func checkSubject(subject string) error {
	if !utf8.ValidString(subject) {
		return regclient.Errorf(regclient.CodeInvalidSubject, "Invalid subject %q: it is not valid UTF-8.", subject)
	}
	if subject == "" || len(subject) > 255 || strings.IndexFunc(subject, unicode.IsControl) >= 0 || strings.TrimSpace(subject) != subject {
		return regclient.Errorf(regclient.CodeInvalidSubject, "Invalid subject %q: it must be 1 to 255 characters, without control characters or surrounding spaces.", subject)
	}
	return nil
}

// ParseVersion reads a version as the REST API's path gives it: a positive
// number, "latest" or -1.
func ParseVersion(s string) (int, error) {
	if s == "latest" || s == "-1" {
		return -1, nil
	}
	var v int
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || v < 1 || v > math.MaxInt32 || fmt.Sprint(v) != s {
		return 0, regclient.Errorf(regclient.CodeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", s)
	}
	return v, nil
}

func (r *Registry) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	err := r.db.Tx(ctx, fn)
	if err == nil {
		return r.refresh(ctx)
	}
	if errors.Is(err, errStale) {
		return err
	}
	var e *regclient.Error
	if errors.As(err, &e) {
		return e
	}
	return storeError("registry write", err)
}
