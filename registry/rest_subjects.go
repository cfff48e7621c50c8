package registry

import (
	"net/http"
	"slices"
	"strings"

	"github.com/cairnhq/cairn/registry/regclient"
)

// flag reads a boolean query parameter as Confluent does: "true", in any
// case, is true; anything else is false.
func flag(r *http.Request, name string) bool {
	return strings.EqualFold(r.URL.Query().Get(name), "true")
}

// pathVersion reads the {version} path segment: a number, "latest" or -1.
func pathVersion(r *http.Request) (int, error) {
	return ParseVersion(r.PathValue("version"))
}

// schemaText is the schema as the format parameter asks: "serialized" is a
// base64 FileDescriptorProto; anything else is the registered text.
func schemaText(r *http.Request, s *regclient.Schema) string {
	if r.URL.Query().Get("format") == "serialized" {
		return s.Serialized()
	}
	return s.Text
}

func versionResponse(r *http.Request, sv *regclient.SubjectVersion) schemaResponse {
	return schemaResponse{
		Subject:    sv.Subject,
		Version:    sv.Version,
		ID:         sv.Schema.ID,
		SchemaType: regclient.TypeProtobuf,
		References: refsOrEmpty(sv.Schema.References),
		Schema:     schemaText(r, sv.Schema),
		Metadata:   sv.Schema.Metadata,
		RuleSet:    sv.Schema.RuleSet,
	}
}

// GET /subjects (?deleted, ?deletedOnly, ?subjectPrefix)
func (h *restHandler) listSubjects(r *http.Request) (any, error) {
	prefix := r.URL.Query().Get("subjectPrefix")
	if !flag(r, "deletedOnly") {
		return h.reg.Subjects(r.Context(), prefix, flag(r, "deleted")), nil
	}
	live := h.reg.Subjects(r.Context(), prefix, false)
	return slices.DeleteFunc(h.reg.Subjects(r.Context(), prefix, true), func(s string) bool {
		_, found := slices.BinarySearch(live, s)
		return found
	}), nil
}

// POST /subjects/{subject} (?deleted): which version holds this schema?
func (h *restHandler) lookUp(r *http.Request) (any, error) {
	var q schemaRequest
	if err := h.decode(r, &q); err != nil {
		return nil, err
	}
	in, err := q.input()
	if err != nil {
		return nil, err
	}
	in.Normalize = flag(r, "normalize")
	sv, err := h.reg.LookUp(r.Context(), r.PathValue("subject"), in, flag(r, "deleted"))
	if err != nil {
		return nil, err
	}
	return versionResponse(r, sv), nil
}

// POST /subjects/{subject}/versions: register, answering {"id": N}.
func (h *restHandler) register(r *http.Request) (any, error) {
	var q schemaRequest
	if err := h.decode(r, &q); err != nil {
		return nil, err
	}
	in, err := q.input()
	if err != nil {
		return nil, err
	}
	in.Normalize = flag(r, "normalize")
	id, err := h.reg.Register(r.Context(), r.PathValue("subject"), in)
	if err != nil {
		return nil, err
	}
	return idResponse{ID: id}, nil
}

// GET /subjects/{subject}/versions (?deleted)
func (h *restHandler) listVersions(r *http.Request) (any, error) {
	return h.reg.Versions(r.Context(), r.PathValue("subject"), flag(r, "deleted"))
}

func (h *restHandler) version(r *http.Request) (*regclient.SubjectVersion, error) {
	v, err := pathVersion(r)
	if err != nil {
		return nil, err
	}
	return h.reg.Version(r.Context(), r.PathValue("subject"), v, flag(r, "deleted"))
}

// GET /subjects/{subject}/versions/{version} (?deleted, ?format)
func (h *restHandler) getVersion(r *http.Request) (any, error) {
	sv, err := h.version(r)
	if err != nil {
		return nil, err
	}
	return versionResponse(r, sv), nil
}

// GET /subjects/{subject}/versions/{version}/schema: the text alone.
func (h *restHandler) getVersionText(r *http.Request) (any, error) {
	sv, err := h.version(r)
	if err != nil {
		return nil, err
	}
	return rawText(schemaText(r, sv.Schema)), nil
}

// GET /subjects/{subject}/versions/{version}/referencedby: ids of the live
// schemas that import this version.
func (h *restHandler) referencedBy(r *http.Request) (any, error) {
	v, err := pathVersion(r)
	if err != nil {
		return nil, err
	}
	return h.reg.ReferencedBy(r.Context(), r.PathValue("subject"), v)
}

// DELETE /subjects/{subject} (?permanent): the versions deleted.
func (h *restHandler) deleteSubject(r *http.Request) (any, error) {
	return h.reg.DeleteSubject(r.Context(), r.PathValue("subject"), flag(r, "permanent"))
}

// DELETE /subjects/{subject}/versions/{version} (?permanent): the version
// deleted.
func (h *restHandler) deleteVersion(r *http.Request) (any, error) {
	v, err := pathVersion(r)
	if err != nil {
		return nil, err
	}
	return h.reg.DeleteVersion(r.Context(), r.PathValue("subject"), v, flag(r, "permanent"))
}
