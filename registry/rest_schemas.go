package registry

import (
	"net/http"
	"strconv"

	"github.com/cairnhq/cairn/registry/regclient"
)

// pathID reads the {id} path segment. An id that is not a number, or not a
// schema id at all, names no schema: 40403, as for an unknown id.
func pathID(r *http.Request) (int32, error) {
	s := r.PathValue("id")
	id, err := strconv.ParseInt(s, 10, 32)
	if err != nil || id < 1 {
		return 0, regclient.Errorf(regclient.CodeSchemaNotFound, "Schema %s not found", s)
	}
	return int32(id), nil
}

func (h *restHandler) schema(r *http.Request) (*regclient.Schema, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return h.reg.SchemaByID(r.Context(), id)
}

// GET /schemas/ids/{id} (?format=serialized). The subject parameter that
// Confluent's clients send names a context; Cairn has one, so it is
// ignored.
func (h *restHandler) schemaByID(r *http.Request) (any, error) {
	s, err := h.schema(r)
	if err != nil {
		return nil, err
	}
	return schemaByIDResponse{SchemaType: regclient.TypeProtobuf, References: refsOrEmpty(s.References), Schema: schemaText(r, s), Metadata: s.Metadata, RuleSet: s.RuleSet}, nil
}

// GET /schemas/ids/{id}/schema: the text alone.
func (h *restHandler) schemaTextByID(r *http.Request) (any, error) {
	s, err := h.schema(r)
	if err != nil {
		return nil, err
	}
	return rawText(schemaText(r, s)), nil
}

func (h *restHandler) uses(r *http.Request) ([]regclient.SubjectVersion, error) {
	id, err := pathID(r)
	if err != nil {
		return nil, err
	}
	return h.reg.VersionsByID(r.Context(), id, flag(r, "deleted"))
}

// GET /schemas/ids/{id}/subjects (?deleted): the subjects using the schema.
func (h *restHandler) subjectsByID(r *http.Request) (any, error) {
	uses, err := h.uses(r)
	if err != nil {
		return nil, err
	}
	subjects := []string{}
	for _, u := range uses {
		if len(subjects) == 0 || subjects[len(subjects)-1] != u.Subject {
			subjects = append(subjects, u.Subject)
		}
	}
	return subjects, nil
}

// GET /schemas/ids/{id}/versions (?deleted): [{subject, version}].
func (h *restHandler) versionsByID(r *http.Request) (any, error) {
	uses, err := h.uses(r)
	if err != nil {
		return nil, err
	}
	out := make([]subjectVersionResponse, len(uses))
	for i, u := range uses {
		out[i] = subjectVersionResponse{Subject: u.Subject, Version: u.Version}
	}
	return out, nil
}

// GET /schemas (?subjectPrefix, ?deleted, ?latestOnly, ?offset, ?limit):
// the versions selected, each as GET /subjects/{subject}/versions/{version}
// answers it. A limit of zero or below, or none, means no limit.
func (h *restHandler) listSchemas(r *http.Request) (any, error) {
	f := SchemaFilter{
		SubjectPrefix: r.URL.Query().Get("subjectPrefix"),
		Deleted:       flag(r, "deleted"),
		LatestOnly:    flag(r, "latestOnly"),
	}
	var err error
	if f.Offset, err = intParam(r, "offset"); err != nil {
		return nil, err
	}
	if f.Limit, err = intParam(r, "limit"); err != nil {
		return nil, err
	}
	svs := h.reg.Schemas(r.Context(), f)
	out := make([]schemaResponse, len(svs))
	for i := range svs {
		out[i] = versionResponse(r, &svs[i])
	}
	return out, nil
}

// intParam reads an integer query parameter; absent is 0.
func intParam(r *http.Request, name string) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, regclient.Errorf(http.StatusBadRequest, "Invalid %s %q: not an integer", name, s)
	}
	return int(n), nil
}
