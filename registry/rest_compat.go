package registry

import (
	"net/http"

	"github.com/cairnhq/cairn/registry/regclient"
)

// POST /compatibility/subjects/{subject}/versions/{version} (?verbose):
// may the schema follow that version (latest: the latest live one)?
func (h *restHandler) checkVersion(r *http.Request) (any, error) {
	v, err := pathVersion(r)
	if err != nil {
		return nil, err
	}
	return h.check(r, v)
}

// POST /compatibility/subjects/{subject}/versions (?verbose): may the
// schema be registered, against the versions the level says?
func (h *restHandler) checkAll(r *http.Request) (any, error) {
	return h.check(r, 0)
}

// check answers {"is_compatible": …}, with the reasons when verbose. As in
// Confluent, a verbose check of a schema that does not compile answers
// "not compatible" with the compiler's message rather than error 42201.
func (h *restHandler) check(r *http.Request, version int) (any, error) {
	var q schemaRequest
	if err := h.decode(r, &q); err != nil {
		return nil, err
	}
	in, err := q.input()
	if err != nil {
		return nil, err
	}
	in.Normalize = flag(r, "normalize")
	verbose := flag(r, "verbose")
	problems, err := h.reg.CheckCompatibility(r.Context(), r.PathValue("subject"), version, in)
	if err != nil {
		if e := AsError(err); verbose && e.Code == regclient.CodeInvalidSchema {
			return compatibilityCheckResponse{Messages: []string{e.Message}}, nil
		}
		return nil, err
	}
	out := compatibilityCheckResponse{IsCompatible: len(problems) == 0}
	if verbose {
		out.Messages = append([]string{}, problems...)
	}
	return out, nil
}
