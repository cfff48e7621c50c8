package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"

	"github.com/cairnhq/cairn/registry/regclient"
)

// The media types of Confluent's REST API. Requests may carry any of them
// or application/octet-stream (or none); answers carry the one the client
// prefers.
const (
	mediaTypeV1      = "application/vnd.schemaregistry.v1+json"
	mediaTypeDefault = "application/vnd.schemaregistry+json"
	mediaTypeJSON    = "application/json"
	mediaTypeGeneric = "application/octet-stream"
)

// Codes that Confluent's REST layer answers with for requests it cannot
// read at all, before they reach the registry: its error_code is then the
// HTTP status.
const (
	codeBadRequest           = http.StatusBadRequest
	codeNotFound             = http.StatusNotFound
	codeMethodNotAllowed     = http.StatusMethodNotAllowed
	codeUnsupportedMediaType = http.StatusUnsupportedMediaType
	codeUnprocessable        = http.StatusUnprocessableEntity
)

// schemaRequest is the body of register, lookup and compatibility
// requests. Fields Cairn does not use are ignored,
// as Confluent ignores unknown ones.
type schemaRequest struct {
	Schema     *string               `json:"schema"`
	SchemaType string                `json:"schemaType"`
	References []regclient.Reference `json:"references"`
	// ID is read as any JSON number, so that one out of int32's range is
	// refused with a reason rather than as JSON of the wrong type.
	ID      json.Number `json:"id"`
	Version int         `json:"version"`
	// Metadata and RuleSet are stored with the schema as sent (in a
	// canonical JSON form); they must be JSON objects.
	Metadata json.RawMessage `json:"metadata"`
	RuleSet  json.RawMessage `json:"ruleSet"`
}

// input checks the request's fields as Confluent's API defines them and
// returns the schema they describe.
func (q *schemaRequest) input() (regclient.SchemaInput, error) {
	// Confluent reads a missing schemaType as AVRO; its protobuf clients
	// (confluent-kafka-go, franz-go's sr) always send PROTOBUF.
	if q.SchemaType == "" {
		return regclient.SchemaInput{}, regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema: schemaType is missing, which means AVRO in the Schema Registry API, and AVRO is not supported: this registry holds PROTOBUF schemas (send \"schemaType\": \"PROTOBUF\")")
	}
	in := regclient.SchemaInput{Type: q.SchemaType, References: q.References}
	if q.Schema != nil {
		in.Text = *q.Schema
	}
	// Confluent's clients send -1 (or nothing) for "no id" and "no
	// version"; only IMPORT mode gives them a meaning.
	if q.ID != "" {
		id, err := q.ID.Int64()
		if err != nil || id < -1 || id > math.MaxInt32 {
			return regclient.SchemaInput{}, regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema id %s: a schema id is a positive 32-bit integer (or -1 for none)", q.ID)
		}
		in.ID = int32(max(id, 0))
	}
	in.Version = max(q.Version, 0)
	var err error
	if in.Metadata, err = canonicalObject("metadata", q.Metadata); err != nil {
		return regclient.SchemaInput{}, err
	}
	if in.RuleSet, err = canonicalObject("ruleSet", q.RuleSet); err != nil {
		return regclient.SchemaInput{}, err
	}
	return in, nil
}

// canonicalObject re-encodes a JSON object with its keys sorted, so that
// equal objects are equal bytes; null, {} or nothing is nil.
func canonicalObject(field string, raw json.RawMessage) (json.RawMessage, error) {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil || v == nil {
		return nil, nil
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, regclient.Errorf(regclient.CodeInvalidSchema, "Invalid schema: %s must be a JSON object", field)
	}
	if len(obj) == 0 {
		return nil, nil
	}
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", field, err)
	}
	return b, nil
}

// schemaResponse is a subject's version, as GET /subjects/{s}/versions/{v}
// and POST /subjects/{s} answer it.
type schemaResponse struct {
	Subject    string                `json:"subject"`
	Version    int                   `json:"version"`
	ID         int32                 `json:"id"`
	SchemaType string                `json:"schemaType"`
	References []regclient.Reference `json:"references"`
	Schema     string                `json:"schema"`
	Metadata   json.RawMessage       `json:"metadata,omitempty"`
	RuleSet    json.RawMessage       `json:"ruleSet,omitempty"`
}

// schemaByIDResponse is a schema as GET /schemas/ids/{id} answers it.
type schemaByIDResponse struct {
	SchemaType string                `json:"schemaType"`
	References []regclient.Reference `json:"references"`
	Schema     string                `json:"schema"`
	Metadata   json.RawMessage       `json:"metadata,omitempty"`
	RuleSet    json.RawMessage       `json:"ruleSet,omitempty"`
}

type idResponse struct {
	ID int32 `json:"id"`
}

type subjectVersionResponse struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// configUpdate is the body of PUT /config, and its answer.
type configUpdate struct {
	Compatibility string `json:"compatibility,omitempty"`
	Normalize     *bool  `json:"normalize,omitempty"`
}

// configResponse is the answer of GET and DELETE /config.
type configResponse struct {
	CompatibilityLevel string `json:"compatibilityLevel,omitempty"`
	Normalize          *bool  `json:"normalize,omitempty"`
}

type modeBody struct {
	Mode string `json:"mode"`
}

type compatibilityCheckResponse struct {
	IsCompatible bool     `json:"is_compatible"`
	Messages     []string `json:"messages,omitzero"`
}

type errorResponse struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

// rawText is an answer sent as is rather than as JSON: a schema's text.
type rawText string

func refsOrEmpty(refs []regclient.Reference) []regclient.Reference {
	if refs == nil {
		return []regclient.Reference{}
	}
	return refs
}

// decode reads a JSON request body into v; serve has limited the body's
// size. Its errors are Confluent's: 415 for a media type it does not take,
// 400 for JSON it cannot read, 422 for a missing body, 42209 for one too
// large.
func (h *restHandler) decode(r *http.Request, v any) error {
	if err := checkContentType(r); err != nil {
		return err
	}
	tooLarge := regclient.Errorf(regclient.CodeRequestTooLarge, "request body exceeds the limit of %d bytes", h.limit)
	if r.ContentLength > h.limit {
		return tooLarge
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return tooLarge
		}
		return regclient.Errorf(codeBadRequest, "could not read the request body")
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || string(trimmed) == "null" {
		return regclient.Errorf(codeUnprocessable, "The request body is missing; it must be a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return regclient.Errorf(codeBadRequest, "Unexpected content after the JSON object in the request body")
	}
	return nil
}

// jsonError describes a JSON decoding failure without echoing the body.
func jsonError(err error) *regclient.Error {
	if e, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		field := e.Field
		if field == "" {
			return regclient.Errorf(codeBadRequest, "Cannot deserialize the request body: expected a JSON object, got %s", e.Value)
		}
		return regclient.Errorf(codeBadRequest, "Cannot deserialize the request body: field %q must be %s, not %s", field, jsonKind(e.Type.Kind().String()), e.Value)
	}
	if e, ok := errors.AsType[*json.SyntaxError](err); ok {
		return regclient.Errorf(codeBadRequest, "Unrecognized JSON in the request body at offset %d: %v", e.Offset, e)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return regclient.Errorf(codeBadRequest, "Unexpected end of the JSON request body")
	}
	return regclient.Errorf(codeBadRequest, "Cannot read the JSON request body")
}

func jsonKind(goKind string) string {
	switch {
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"):
		return "an integer"
	case goKind == "string":
		return "a string"
	case goKind == "slice":
		return "an array"
	case goKind == "struct", goKind == "ptr":
		return "an object"
	}
	return "of another type"
}

func checkContentType(r *http.Request) *regclient.Error {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		switch mt {
		case mediaTypeV1, mediaTypeDefault, mediaTypeJSON, mediaTypeGeneric:
			return nil
		}
	}
	return regclient.Errorf(codeUnsupportedMediaType, "HTTP 415 Unsupported Media Type")
}

// responseType picks the answer's media type from the Accept header: the
// first of Confluent's, in its order of preference, that the client names.
func responseType(r *http.Request) string {
	accept := r.Header.Get("Accept")
	if accept == "" {
		return mediaTypeV1
	}
	named := make(map[string]bool)
	for part := range strings.SplitSeq(accept, ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil {
			named[mt] = true
		}
	}
	for _, mt := range []string{mediaTypeV1, mediaTypeDefault, mediaTypeJSON} {
		if named[mt] {
			return mt
		}
	}
	return mediaTypeV1
}

// writeBody sends a successful answer: JSON, or a schema's text as is. It
// writes nothing if the body cannot be encoded.
func writeBody(w http.ResponseWriter, r *http.Request, body any) error {
	var b []byte
	if text, ok := body.(rawText); ok {
		b = []byte(text)
	} else {
		j, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode answer: %w", err)
		}
		b = append(j, '\n')
	}
	w.Header().Set("Content-Type", responseType(r))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	return nil
}

// writeError sends e as Confluent does: {"error_code": …, "message": …}
// with the HTTP status its code starts with.
func writeError(w http.ResponseWriter, r *http.Request, e *regclient.Error) {
	if e.Code == regclient.CodeUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="cairn-registry"`)
	}
	b, _ := json.Marshal(errorResponse{ErrorCode: e.Code, Message: e.Message})
	w.Header().Set("Content-Type", responseType(r))
	w.WriteHeader(e.HTTPStatus())
	w.Write(append(b, '\n'))
}
