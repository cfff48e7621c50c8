package registry

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/cairnhq/cairn/registry/regclient"
)

// DefaultMaxBodyBytes is the request body limit when HandlerOptions sets
// none.
const DefaultMaxBodyBytes = 4 << 20

// HandlerOptions configures NewHandler. The zero value serves an open API,
// as `cairn dev` does on loopback.
type HandlerOptions struct {
	// MaxBodyBytes limits request bodies; a larger one is refused with
	// error 42209. Zero means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Principals are the clients that may use the API. When there are none,
	// anyone may read and write. When there are some, writes (register,
	// delete, and changes to compatibility levels and modes) need a
	// principal with RoleSchemaOwner.
	Principals []Principal
	// ProtectReads, when Principals are configured, makes reads (lookups
	// and compatibility checks included) need a valid principal too.
	ProtectReads bool
	// Logger logs each request at debug level and failures at error level;
	// nil means slog.Default(). Bodies and credentials are never logged.
	Logger *slog.Logger
}

func (o *HandlerOptions) setDefaults() {
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports options NewHandler cannot serve with: a negative body
// limit, or principals that are incomplete or ambiguous.
func (o HandlerOptions) Validate() error {
	if o.MaxBodyBytes < 0 {
		return fmt.Errorf("registry handler: negative body limit %d", o.MaxBodyBytes)
	}
	users, keys := make(map[string]bool), make(map[string]bool)
	for _, p := range o.Principals {
		if err := p.validate(); err != nil {
			return fmt.Errorf("registry handler: %w", err)
		}
		if p.Username != "" && users[p.Username] {
			return fmt.Errorf("registry handler: username %q belongs to two principals", p.Username)
		}
		if p.APIKey != "" && keys[p.APIKey] {
			return fmt.Errorf("registry handler: principal %q shares its API key with another", p.Name)
		}
		users[p.Username], keys[p.APIKey] = true, true
	}
	if o.ProtectReads && len(o.Principals) == 0 {
		return errors.New("registry handler: reads cannot be protected without principals")
	}
	return nil
}

// NewHandler serves Confluent Schema Registry's REST API over r: its
// paths, JSON shapes, media types, status codes and error codes, for
// PROTOBUF schemas. The handler is safe for concurrent use.
func NewHandler(r *Registry, opts HandlerOptions) (http.Handler, error) {
	if r == nil {
		return nil, errors.New("registry handler: no registry")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts.setDefaults()
	h := &restHandler{
		reg:   r,
		log:   opts.Logger,
		limit: opts.MaxBodyBytes,
		auth:  newAuthenticator(opts.Principals, opts.ProtectReads),
		mux:   http.NewServeMux(),
		paths: make(map[string]bool),
	}
	h.routes()
	return h.logged(h.recovered(h.mux)), nil
}

// restHandler routes the REST API's requests to the registry.
type restHandler struct {
	reg   *Registry
	log   *slog.Logger
	limit int64
	auth  *authenticator
	mux   *http.ServeMux
	// paths holds the paths registered so far, each also without a method.
	paths map[string]bool
}

// endpoint answers one route: a body to send as JSON (or rawText), or an
// error to send as Confluent's error body.
type endpoint func(*http.Request) (any, error)

// routes registers every route. Subject names may hold "/" sent as %2F:
// the mux matches the escaped path, so {subject} is one segment, and
// PathValue unescapes it.
func (h *restHandler) routes() {
	h.handle("GET /{$}", read, func(*http.Request) (any, error) { return struct{}{}, nil })

	h.handle("GET /subjects", read, h.listSubjects)
	h.handle("POST /subjects/{subject}", read, h.lookUp)
	h.handle("DELETE /subjects/{subject}", write, h.deleteSubject)
	h.handle("GET /subjects/{subject}/versions", read, h.listVersions)
	h.handle("POST /subjects/{subject}/versions", write, h.register)
	h.handle("GET /subjects/{subject}/versions/{version}", read, h.getVersion)
	h.handle("DELETE /subjects/{subject}/versions/{version}", write, h.deleteVersion)
	h.handle("GET /subjects/{subject}/versions/{version}/schema", read, h.getVersionText)
	h.handle("GET /subjects/{subject}/versions/{version}/referencedby", read, h.referencedBy)

	h.handle("GET /schemas", read, h.listSchemas)
	h.handle("GET /schemas/types", read, func(*http.Request) (any, error) { return []string{regclient.TypeProtobuf}, nil })
	h.handle("GET /schemas/ids/{id}", read, h.schemaByID)
	h.handle("GET /schemas/ids/{id}/schema", read, h.schemaTextByID)
	h.handle("GET /schemas/ids/{id}/subjects", read, h.subjectsByID)
	h.handle("GET /schemas/ids/{id}/versions", read, h.versionsByID)

	h.handle("GET /config", read, h.getConfig)
	h.handle("PUT /config", write, h.setConfig)
	h.handle("DELETE /config", write, h.deleteConfig)
	h.handle("GET /config/{subject}", read, h.getConfig)
	h.handle("PUT /config/{subject}", write, h.setConfig)
	h.handle("DELETE /config/{subject}", write, h.deleteConfig)

	h.handle("GET /mode", read, h.getMode)
	h.handle("PUT /mode", write, h.setMode)
	h.handle("DELETE /mode", write, h.deleteMode)
	h.handle("GET /mode/{subject}", read, h.getMode)
	h.handle("PUT /mode/{subject}", write, h.setMode)
	h.handle("DELETE /mode/{subject}", write, h.deleteMode)

	h.handle("POST /compatibility/subjects/{subject}/versions", read, h.checkAll)
	h.handle("POST /compatibility/subjects/{subject}/versions/{version}", read, h.checkVersion)

	// Anything else gets Confluent's bodies for 404 and 405.
	h.handle("/", read, func(*http.Request) (any, error) {
		return nil, regclient.Errorf(codeNotFound, "HTTP 404 Not Found")
	})
}

// handle registers an endpoint behind the access check it needs. For each
// path it also registers the path without a method, so that another method
// gets Confluent's 405 body rather than the mux's plain text.
func (h *restHandler) handle(pattern string, need access, fn endpoint) {
	h.mux.Handle(pattern, h.serve(need, fn))
	if _, path, ok := strings.Cut(pattern, " "); ok && !h.paths[path] {
		h.paths[path] = true
		h.mux.Handle(path, h.serve(read, func(*http.Request) (any, error) {
			return nil, regclient.Errorf(codeMethodNotAllowed, "HTTP 405 Method Not Allowed")
		}))
	}
}

// serve checks the caller's credentials, runs fn, and writes its answer.
func (h *restHandler) serve(need access, fn endpoint) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if e := h.auth.authorize(r, need); e != nil {
			writeError(w, r, e)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, h.limit)
		body, err := fn(r)
		if err == nil {
			err = writeBody(w, r, body)
		}
		if err != nil {
			e := AsError(err)
			if e.Code == regclient.CodeStore {
				h.log.ErrorContext(r.Context(), "registry request failed", "method", r.Method, "path", r.URL.EscapedPath(), "error", err)
			}
			writeError(w, r, e)
		}
	})
}
