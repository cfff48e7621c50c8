package registry_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// testRegistry is a registry on a fresh SQLite file, served over loopback.
type testRegistry struct {
	*registry.Registry
	srv  *httptest.Server
	logs *syncBuffer
}

func (tr *testRegistry) url() string { return tr.srv.URL }

// newTestRegistry opens a registry in t's temporary directory and serves
// its REST API with opts; everything is closed when t ends. Logs go to a
// buffer that tests may inspect.
func newTestRegistry(t testing.TB, opts registry.HandlerOptions) *testRegistry {
	t.Helper()
	reg, logger, logs := openRegistry(t)
	opts.Logger = logger
	h, err := registry.NewHandler(reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &testRegistry{Registry: reg, srv: srv, logs: logs}
}

// response is an answer read in full.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode is the error_code of an error body, or 0.
func (r response) errorCode() int {
	var e struct {
		Code int `json:"error_code"`
	}
	json.Unmarshal(r.body, &e)
	return e.Code
}

// do sends a request with a raw body (nil for none) and the Confluent
// content type, plus the given headers as name, value pairs.
func do(t testing.TB, method, url string, body []byte, headers ...string) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Transfer-Encoding" {
			// A body of unknown length goes chunked.
			req.Body, req.ContentLength = io.NopCloser(io.MultiReader(bytes.NewReader(body))), -1
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

func jsonBody(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func schemaBody(t testing.TB, text string, refs ...regclient.Reference) []byte {
	return jsonBody(t, map[string]any{"schema": text, "schemaType": "PROTOBUF", "references": refs})
}

// mustOK fails t unless the answer is a 200.
func mustOK(t testing.TB, r response) response {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", r.status, r.body)
	}
	return r
}

// registerOrders registers commonProto and orderProto through the REST API.
func registerOrders(t testing.TB, tr *testRegistry) {
	t.Helper()
	mustOK(t, do(t, "POST", tr.url()+"/subjects/deps%2Fcommon.proto/versions", schemaBody(t, commonProto)))
	mustOK(t, do(t, "POST", tr.url()+"/subjects/orders-value/versions", schemaBody(t, orderProto, commonRef)))
}

func TestRESTShapes(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	registerOrders(t, tr)

	tests := []struct {
		method, path string
		body         []byte
		want         string // JSON, compared after decoding; or raw text with raw
		raw          bool
	}{
		{"GET", "/", nil, `{}`, false},
		{"GET", "/schemas/types", nil, `["PROTOBUF"]`, false},
		{"GET", "/subjects", nil, `["deps/common.proto","orders-value"]`, false},
		{"GET", "/subjects?subjectPrefix=deps", nil, `["deps/common.proto"]`, false},
		{"GET", "/subjects/deps%2Fcommon.proto/versions", nil, `[1]`, false},
		{"GET", "/subjects/orders-value/versions/latest", nil,
			`{"subject":"orders-value","version":1,"id":2,"schemaType":"PROTOBUF","schema":` + quote(orderProto) +
				`,"references":[{"name":"deps/common.proto","subject":"deps/common.proto","version":1}]}`, false},
		{"GET", "/subjects/deps%2Fcommon.proto/versions/-1", nil,
			`{"subject":"deps/common.proto","version":1,"id":1,"schemaType":"PROTOBUF","schema":` + quote(commonProto) + `,"references":[]}`, false},
		{"GET", "/subjects/orders-value/versions/1/schema", nil, orderProto, true},
		{"GET", "/subjects/deps%2Fcommon.proto/versions/1/referencedby", nil, `[2]`, false},
		{"POST", "/subjects/orders-value", schemaBody(t, orderProto, commonRef),
			`{"subject":"orders-value","version":1,"id":2,"schemaType":"PROTOBUF","schema":` + quote(orderProto) +
				`,"references":[{"name":"deps/common.proto","subject":"deps/common.proto","version":1}]}`, false},
		{"GET", "/schemas/ids/1", nil, `{"schemaType":"PROTOBUF","schema":` + quote(commonProto) + `,"references":[]}`, false},
		{"GET", "/schemas/ids/1/schema", nil, commonProto, true},
		{"GET", "/schemas/ids/2/subjects", nil, `["orders-value"]`, false},
		{"GET", "/schemas/ids/2/versions", nil, `[{"subject":"orders-value","version":1}]`, false},
		{"GET", "/config", nil, `{"compatibilityLevel":"BACKWARD"}`, false},
		{"GET", "/config/orders-value?defaultToGlobal=true", nil, `{"compatibilityLevel":"BACKWARD"}`, false},
		{"PUT", "/config/orders-value", []byte(`{"compatibility":"full"}`), `{"compatibility":"FULL"}`, false},
		{"GET", "/config/orders-value", nil, `{"compatibilityLevel":"FULL"}`, false},
		{"DELETE", "/config/orders-value", nil, `{"compatibilityLevel":"FULL"}`, false},
		{"GET", "/mode", nil, `{"mode":"READWRITE"}`, false},
		{"PUT", "/mode/orders-value", []byte(`{"mode":"READONLY"}`), `{"mode":"READONLY"}`, false},
		{"GET", "/mode/orders-value", nil, `{"mode":"READONLY"}`, false},
		{"DELETE", "/mode/orders-value", nil, `{"mode":"READONLY"}`, false},
		{"GET", "/mode/orders-value?defaultToGlobal=true", nil, `{"mode":"READWRITE"}`, false},
		// IMPORT on a registry holding versions needs force.
		{"PUT", "/mode?force=true", []byte(`{"mode":"IMPORT"}`), `{"mode":"IMPORT"}`, false},
		{"GET", "/mode/orders-value?defaultToGlobal=true", nil, `{"mode":"IMPORT"}`, false},
		{"DELETE", "/mode", nil, `{"mode":"IMPORT"}`, false},
		{"GET", "/mode", nil, `{"mode":"READWRITE"}`, false},
		{"PUT", "/mode/new-subject", []byte(`{"mode":"IMPORT"}`), `{"mode":"IMPORT"}`, false},
		{"DELETE", "/mode/new-subject", nil, `{"mode":"IMPORT"}`, false},
		{"POST", "/compatibility/subjects/orders-value/versions/latest", schemaBody(t, orderProtoV2, commonRef), `{"is_compatible":true}`, false},
		{"POST", "/compatibility/subjects/orders-value/versions/1?verbose=true", schemaBody(t, orderProtoV2, commonRef), `{"is_compatible":true,"messages":[]}`, false},
		{"POST", "/compatibility/subjects/orders-value/versions", schemaBody(t, orderProtoBroken, commonRef), `{"is_compatible":false}`, false},
		// A subject with no versions has nothing to be incompatible with.
		{"POST", "/compatibility/subjects/new-subject/versions/latest", schemaBody(t, plainProto), `{"is_compatible":true}`, false},
		{"POST", "/compatibility/subjects/new-subject/versions", schemaBody(t, plainProto), `{"is_compatible":true}`, false},
	}
	for _, tt := range tests {
		// Sequential: some steps change settings that later ones read.
		r := do(t, tt.method, tr.url()+tt.path, tt.body)
		if r.status != http.StatusOK {
			t.Errorf("%s %s: status %d: %s", tt.method, tt.path, r.status, r.body)
			continue
		}
		if ct := r.header.Get("Content-Type"); ct != "application/vnd.schemaregistry.v1+json" {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
		}
		if tt.raw {
			if string(r.body) != tt.want {
				t.Errorf("%s %s: body\n%s\nwant\n%s", tt.method, tt.path, r.body, tt.want)
			}
			continue
		}
		if !sameJSON(t, r.body, []byte(tt.want)) {
			t.Errorf("%s %s: body\n%s\nwant\n%s", tt.method, tt.path, r.body, tt.want)
		}
	}
}

func TestRESTVerboseIncompatibility(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	registerOrders(t, tr)
	r := mustOK(t, do(t, "POST", tr.url()+"/compatibility/subjects/orders-value/versions/latest?verbose=true", schemaBody(t, orderProtoBroken, commonRef)))
	var got struct {
		IsCompatible bool     `json:"is_compatible"`
		Messages     []string `json:"messages"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.IsCompatible || len(got.Messages) == 0 || !strings.Contains(strings.Join(got.Messages, " "), "#/Order/1") {
		t.Errorf("verbose check of an incompatible schema: %s", r.body)
	}

	// Verbose, a schema that does not compile is "not compatible", with the
	// compiler's message; without verbose it is error 42201.
	r = mustOK(t, do(t, "POST", tr.url()+"/compatibility/subjects/orders-value/versions/latest?verbose=true", schemaBody(t, "message {")))
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.IsCompatible || len(got.Messages) != 1 {
		t.Errorf("verbose check of a broken schema: %s", r.body)
	}
	if r := do(t, "POST", tr.url()+"/compatibility/subjects/orders-value/versions/latest", schemaBody(t, "message {")); r.status != 422 || r.errorCode() != 42201 {
		t.Errorf("check of a broken schema: %d %s", r.status, r.body)
	}
}

func TestRESTSerializedFormat(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	mustOK(t, do(t, "POST", tr.url()+"/subjects/plain-value/versions", schemaBody(t, plainProto)))
	var got struct {
		Schema string `json:"schema"`
	}
	r := mustOK(t, do(t, "GET", tr.url()+"/schemas/ids/1?format=serialized", nil))
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Schema == "" || got.Schema == plainProto {
		t.Fatalf("format=serialized gave %q", got.Schema)
	}
	// The serialized form is the same schema: registering it again under
	// another subject finds the same id.
	r = mustOK(t, do(t, "POST", tr.url()+"/subjects/plain-copy/versions", schemaBody(t, got.Schema)))
	if !sameJSON(t, r.body, []byte(`{"id":1}`)) {
		t.Errorf("registering the serialized form: %s", r.body)
	}
}

func TestRESTMediaTypes(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	for _, ct := range []string{"application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json; charset=utf-8", "application/octet-stream"} {
		r := do(t, "POST", tr.url()+"/subjects/plain-value/versions", schemaBody(t, plainProto), "Content-Type", ct)
		if r.status != http.StatusOK {
			t.Errorf("Content-Type %q: %d %s", ct, r.status, r.body)
		}
	}
	r := do(t, "POST", tr.url()+"/subjects/plain-value/versions", schemaBody(t, plainProto), "Content-Type", "text/plain")
	if r.status != http.StatusUnsupportedMediaType || r.errorCode() != 415 {
		t.Errorf("Content-Type text/plain: %d %s", r.status, r.body)
	}
	for accept, want := range map[string]string{
		"":                 "application/vnd.schemaregistry.v1+json",
		"application/json": "application/json",
		"application/vnd.schemaregistry+json, application/json;q=0.5": "application/vnd.schemaregistry+json",
		"*/*": "application/vnd.schemaregistry.v1+json",
	} {
		r := do(t, "GET", tr.url()+"/subjects", nil, "Accept", accept)
		if got := r.header.Get("Content-Type"); got != want {
			t.Errorf("Accept %q: Content-Type %q, want %q", accept, got, want)
		}
	}
}

// TestRESTSubjectWithSlashes checks subjects whose names hold "/", sent as
// %2F, even where a cleaned path would differ.
func TestRESTSubjectWithSlashes(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	for _, subject := range []string{"a/b", "a//b", "trailing/", "/leading", "x/./y"} {
		escaped := strings.ReplaceAll(subject, "/", "%2F")
		r := mustOK(t, do(t, "POST", tr.url()+"/subjects/"+escaped+"/versions", schemaBody(t, plainProto)))
		r = mustOK(t, do(t, "GET", tr.url()+"/subjects/"+escaped+"/versions/latest", nil))
		var got struct {
			Subject string `json:"subject"`
		}
		json.Unmarshal(r.body, &got)
		if got.Subject != subject {
			t.Errorf("subject %q came back as %q", subject, got.Subject)
		}
	}
	subjects := tr.Subjects(t.Context(), "", false)
	want := []string{"/leading", "a//b", "a/b", "trailing/", "x/./y"}
	if !slices.Equal(subjects, want) {
		t.Errorf("subjects %q, want %q", subjects, want)
	}
}

// TestRESTBadInput sends what a careless or hostile client might, and
// checks each answer's status and error code, and that nothing changed.
func TestRESTBadInput(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{MaxBodyBytes: 64 << 10})
	registerOrders(t, tr)
	mustOK(t, do(t, "PUT", tr.url()+"/config/orders-value", []byte(`{"compatibility":"FULL"}`)))
	before := snapshot(t, tr)

	huge := jsonBody(t, map[string]string{"schema": plainProto + "// " + strings.Repeat("x", 70<<10) + "\n"})
	tests := []struct {
		name         string
		method, path string
		body         []byte
		headers      []string
		status, code int
	}{
		{"malformed JSON", "POST", "/subjects/s/versions", []byte(`{"schema": "syntax`), nil, 400, 400},
		{"not JSON", "POST", "/subjects/s/versions", []byte(`syntax = "proto3";`), nil, 400, 400},
		{"trailing garbage", "POST", "/subjects/s/versions", []byte(`{"schema": "x"} {}`), nil, 400, 400},
		{"trailing brace", "POST", "/subjects/s/versions", []byte(`{"schema": "x"}}`), nil, 400, 400},
		{"schema not a string", "POST", "/subjects/s/versions", []byte(`{"schema": 5}`), nil, 400, 400},
		{"body an array", "POST", "/subjects/s/versions", []byte(`[1, 2]`), nil, 400, 400},
		{"references not an array", "POST", "/subjects/s/versions", []byte(`{"schema": "x", "references": "deps"}`), nil, 400, 400},
		{"id out of range", "POST", "/subjects/s/versions", []byte(`{"schema": "x", "schemaType": "PROTOBUF", "id": 99999999999}`), nil, 422, 42201},
		{"id not an integer", "POST", "/subjects/s/versions", []byte(`{"schema": "x", "schemaType": "PROTOBUF", "id": 1.5}`), nil, 422, 42201},
		{"empty body", "POST", "/subjects/s/versions", []byte(``), nil, 422, 422},
		{"null body", "POST", "/subjects/s/versions", []byte(`null`), nil, 422, 422},
		{"no schema", "POST", "/subjects/s/versions", []byte(`{"schemaType": "PROTOBUF", "unknown": {"ignored": true}}`), nil, 422, 42201},
		{"AVRO", "POST", "/subjects/s/versions", jsonBody(t, map[string]string{"schema": `{"type":"string"}`, "schemaType": "AVRO"}), nil, 422, 42201},
		{"JSON schema", "POST", "/subjects/s/versions", jsonBody(t, map[string]string{"schema": `{"type":"object"}`, "schemaType": "JSON"}), nil, 422, 42201},
		{"no schemaType means AVRO, which is not supported", "POST", "/subjects/s/versions", jsonBody(t, map[string]string{"schema": plainProto}), nil, 422, 42201},
		{"unparsable proto", "POST", "/subjects/s/versions", schemaBody(t, "syntax = \"proto3\";\nmessage {"), nil, 422, 42201},
		{"missing import", "POST", "/subjects/s/versions", schemaBody(t, orderProto), nil, 422, 42201},
		{"reference to a missing subject", "POST", "/subjects/s/versions", schemaBody(t, orderProto, regclient.Reference{Name: "deps/common.proto", Subject: "nope", Version: 1}), nil, 422, 42201},
		{"reference to a missing version", "POST", "/subjects/s/versions", schemaBody(t, orderProto, regclient.Reference{Name: "deps/common.proto", Subject: "deps/common.proto", Version: 7}), nil, 422, 42201},
		{"body too large", "POST", "/subjects/s/versions", huge, nil, 422, 42209},
		{"body too large, chunked", "POST", "/subjects/s/versions", huge, []string{"Transfer-Encoding", "chunked"}, 422, 42209},
		{"incompatible", "POST", "/subjects/orders-value/versions", schemaBody(t, orderProtoBroken, commonRef), nil, 409, 409},
		{"id outside IMPORT mode", "POST", "/subjects/s/versions", jsonBody(t, map[string]any{"schema": plainProto, "schemaType": "PROTOBUF", "id": 100}), nil, 422, 42205},
		{"control character in subject", "POST", "/subjects/a%01b/versions", schemaBody(t, plainProto), nil, 422, 42208},
		{"version zero", "GET", "/subjects/orders-value/versions/0", nil, nil, 422, 42202},
		{"version not a number", "GET", "/subjects/orders-value/versions/first", nil, nil, 422, 42202},
		{"version too large", "GET", "/subjects/orders-value/versions/99999999999", nil, nil, 422, 42202},
		{"version negative", "DELETE", "/subjects/orders-value/versions/-2", nil, nil, 422, 42202},
		{"compatibility version invalid", "POST", "/compatibility/subjects/orders-value/versions/x", schemaBody(t, orderProtoV2, commonRef), nil, 422, 42202},
		{"unknown version", "GET", "/subjects/orders-value/versions/9", nil, nil, 404, 40402},
		{"compatibility against an unknown version", "POST", "/compatibility/subjects/orders-value/versions/9", schemaBody(t, orderProtoV2, commonRef), nil, 404, 40402},
		{"unknown subject", "GET", "/subjects/nope/versions", nil, nil, 404, 40401},
		{"lookup in an unknown subject", "POST", "/subjects/nope", schemaBody(t, plainProto), nil, 404, 40401},
		{"lookup of an unregistered schema", "POST", "/subjects/orders-value", schemaBody(t, plainProto), nil, 404, 40403},
		{"schema id not a number", "GET", "/schemas/ids/abc", nil, nil, 404, 40403},
		{"schema id zero", "GET", "/schemas/ids/0", nil, nil, 404, 40403},
		{"schema id too large", "GET", "/schemas/ids/99999999999/versions", nil, nil, 404, 40403},
		{"unknown schema id", "GET", "/schemas/ids/42/subjects", nil, nil, 404, 40403},
		{"invalid level", "PUT", "/config", []byte(`{"compatibility":"SOMETIMES"}`), nil, 422, 42203},
		{"missing level", "PUT", "/config/orders-value", []byte(`{}`), nil, 422, 42203},
		{"level not a string", "PUT", "/config", []byte(`{"compatibility":3}`), nil, 400, 400},
		{"invalid mode", "PUT", "/mode", []byte(`{"mode":"READSOMETIMES"}`), nil, 422, 42204},
		{"IMPORT on a registry holding versions", "PUT", "/mode", []byte(`{"mode":"IMPORT"}`), nil, 422, 42205},
		{"IMPORT on a subject holding versions", "PUT", "/mode/orders-value?force=false", []byte(`{"mode":"IMPORT"}`), nil, 422, 42205},
		{"subject level not set", "GET", "/config/deps%2Fcommon.proto", nil, nil, 404, 40408},
		{"subject mode not set", "GET", "/mode/orders-value", nil, nil, 404, 40409},
		{"delete an unset level", "DELETE", "/config/deps%2Fcommon.proto", nil, nil, 404, 40401},
		{"delete an unset mode", "DELETE", "/mode/orders-value", nil, nil, 404, 40401},
		{"permanent delete before soft", "DELETE", "/subjects/orders-value?permanent=true", nil, nil, 404, 40405},
		{"delete a referenced subject", "DELETE", "/subjects/deps%2Fcommon.proto", nil, nil, 422, 42206},
		{"wrong content type", "PUT", "/config", []byte(`{"compatibility":"NONE"}`), []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, 415},
		{"unknown path", "GET", "/nothing/here", nil, nil, 404, 404},
		{"unknown method", "PATCH", "/subjects/orders-value/versions", []byte(`{}`), nil, 405, 405},
		{"wrong method on root", "DELETE", "/", nil, nil, 405, 405},
	}
	// What some messages must say.
	messages := map[string]string{
		"AVRO":                                  "PROTOBUF",
		"unparsable proto":                      "syntax error",
		"missing import":                        `import \"deps/common.proto\"`,
		"reference to a missing subject":        `subject \"nope\"`,
		"body too large":                        "request body exceeds the limit of 65536 bytes",
		"schema not a string":                   `field \"schema\"`,
		"IMPORT on a registry holding versions": "Cannot import since found existing subjects",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, tr.url()+tt.path, tt.body, tt.headers...)
			if r.status != tt.status || r.errorCode() != tt.code {
				t.Errorf("%s %s: status %d, error_code %d, want %d, %d: %s", tt.method, tt.path, r.status, r.errorCode(), tt.status, tt.code, r.body)
			}
			var e map[string]any
			if err := json.Unmarshal(r.body, &e); err != nil || len(e) != 2 || e["message"] == "" {
				t.Errorf("error body %s is not {error_code, message}", r.body)
			}
			if want := messages[tt.name]; !bytes.Contains(r.body, []byte(want)) {
				t.Errorf("message %s does not say %s", r.body, want)
			}
		})
	}
	if after := snapshot(t, tr); after != before {
		t.Errorf("bad input changed the registry:\nbefore %s\nafter  %s", before, after)
	}
	if strings.Contains(tr.logs.String(), "level=ERROR") {
		t.Errorf("bad input logged errors:\n%s", tr.logs)
	}
}

// snapshot describes what the registry holds, through its REST API.
func snapshot(t testing.TB, tr *testRegistry) string {
	t.Helper()
	var b strings.Builder
	for _, path := range []string{"/subjects?deleted=true", "/config", "/mode"} {
		b.Write(bytes.TrimSpace(do(t, "GET", tr.url()+path, nil).body))
	}
	var subjects []string
	json.Unmarshal(do(t, "GET", tr.url()+"/subjects?deleted=true", nil).body, &subjects)
	for _, s := range subjects {
		escaped := strings.ReplaceAll(s, "/", "%2F")
		for _, path := range []string{"/versions?deleted=true", "/versions/latest?deleted=true"} {
			b.Write(bytes.TrimSpace(do(t, "GET", tr.url()+"/subjects/"+escaped+path, nil).body))
		}
		b.Write(bytes.TrimSpace(do(t, "GET", tr.url()+"/config/"+escaped, nil).body))
	}
	return b.String()
}

func TestRESTDeletes(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	mustOK(t, do(t, "POST", tr.url()+"/subjects/plain-value/versions", schemaBody(t, plainProto)))
	mustOK(t, do(t, "POST", tr.url()+"/subjects/plain-value/versions", schemaBody(t, plainProto+"message Pong {}\n")))

	steps := []struct {
		method, path string
		status       int
		want         string // body, or error_code for errors
	}{
		{"DELETE", "/subjects/plain-value/versions/1", 200, `1`},
		{"DELETE", "/subjects/plain-value/versions/1", 404, `40406`},
		{"GET", "/subjects/plain-value/versions", 200, `[2]`},
		{"GET", "/subjects/plain-value/versions?deleted=true", 200, `[1,2]`},
		{"GET", "/subjects/plain-value/versions/1", 404, `40402`},
		{"GET", "/schemas/ids/1/versions?deleted=true", 200, `[{"subject":"plain-value","version":1}]`},
		{"DELETE", "/subjects/plain-value/versions/2?permanent=true", 404, `40407`},
		{"DELETE", "/subjects/plain-value/versions/1?permanent=true", 200, `1`},
		{"DELETE", "/subjects/plain-value", 200, `[2]`},
		{"DELETE", "/subjects/plain-value", 404, `40404`},
		{"GET", "/subjects", 200, `[]`},
		{"GET", "/subjects?deleted=true", 200, `["plain-value"]`},
		{"GET", "/subjects?deletedOnly=true", 200, `["plain-value"]`},
		{"GET", "/subjects/plain-value/versions", 404, `40401`},
		{"GET", "/subjects/plain-value/versions/latest?deleted=true", 200, ``},
		{"GET", "/schemas/ids/2", 200, ``},
		{"DELETE", "/subjects/plain-value?permanent=true", 200, `[2]`},
		{"GET", "/subjects?deleted=true", 200, `[]`},
		{"GET", "/schemas/ids/2", 404, `40403`},
	}
	for _, s := range steps {
		r := do(t, s.method, tr.url()+s.path, nil)
		switch {
		case r.status != s.status:
			t.Errorf("%s %s: status %d, want %d: %s", s.method, s.path, r.status, s.status, r.body)
		case s.status != 200 && strings.TrimSpace(s.want) != "" && jsonInt(r.errorCode()) != s.want:
			t.Errorf("%s %s: error_code %d, want %s", s.method, s.path, r.errorCode(), s.want)
		case s.status == 200 && s.want != "" && !sameJSON(t, r.body, []byte(s.want)):
			t.Errorf("%s %s: body %s, want %s", s.method, s.path, r.body, s.want)
		}
	}
}

// TestRESTPanicRecovers checks a panic inside a handler becomes a 50001
// answer and an error in the log, and the server goes on serving.
func TestRESTPanicRecovers(t *testing.T) {
	t.Parallel()
	logs := new(syncBuffer)
	h, err := registry.NewHandler(new(registry.Registry), registry.HandlerOptions{
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A zero Registry has no index: reading it panics.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/subjects/x/versions", nil))
	r := response{status: rec.Code, body: rec.Body.Bytes()}
	if r.status != 500 || r.errorCode() != 50001 {
		t.Errorf("panic answered %d %s", r.status, r.body)
	}
	if !strings.Contains(logs.String(), "panicked") || !strings.Contains(logs.String(), "level=ERROR msg=\"registry http request\" method=GET path=/subjects/x/versions status=500") {
		t.Errorf("panic not logged, or its 500 not at error level:\n%s", logs)
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/schemas/types", nil))
	if rec.Code != 200 {
		t.Errorf("after a panic: %d %s", rec.Code, rec.Body)
	}
}

func TestNewHandlerValidates(t *testing.T) {
	t.Parallel()
	tr := newTestRegistry(t, registry.HandlerOptions{})
	bad := []registry.HandlerOptions{
		{MaxBodyBytes: -1},
		{ProtectReads: true},
		{Principals: []registry.Principal{{Username: "u", Password: "p", Role: registry.RoleReader}}},
		{Principals: []registry.Principal{{Name: "n", Username: "u", Password: "p", Role: "admin"}}},
		{Principals: []registry.Principal{{Name: "n", Username: "u", Role: registry.RoleReader}}},
		{Principals: []registry.Principal{{Name: "n", Role: registry.RoleReader}}},
		{Principals: []registry.Principal{
			{Name: "a", Username: "u", Password: "p", Role: registry.RoleReader},
			{Name: "b", Username: "u", Password: "q", Role: registry.RoleSchemaOwner},
		}},
		{Principals: []registry.Principal{
			{Name: "a", APIKey: "k", Role: registry.RoleReader},
			{Name: "b", APIKey: "k", Role: registry.RoleSchemaOwner},
		}},
	}
	for i, opts := range bad {
		if _, err := registry.NewHandler(tr.Registry, opts); err == nil {
			t.Errorf("options %d: NewHandler accepted %+v", i, opts)
		}
	}
}

func sameJSON(t testing.TB, got, want []byte) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		return false
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("bad expectation %s: %v", want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return bytes.Equal(gb, wb)
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func jsonInt(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
