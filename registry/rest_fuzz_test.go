package registry_test

import (
	"bytes"
	"encoding/base64"
	"net/http/httptest"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/registry"
)

// FuzzRegisterBody posts arbitrary bytes as a register request: whatever
// they are, the answer is never a 5xx and the handler never panics (a
// panic would come back as a 50001).
func FuzzRegisterBody(f *testing.F) {
	reg, logger, _ := openRegistry(f)
	h, err := registry.NewHandler(reg, registry.HandlerOptions{Logger: logger, MaxBodyBytes: 1 << 20})
	if err != nil {
		f.Fatal(err)
	}
	serialized, err := proto.Marshal(protodesc.ToFileDescriptorProto(timestamppb.File_google_protobuf_timestamp_proto))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		``,
		`null`,
		`{}`,
		`[]`,
		`"schema"`,
		`{"schema": 1}`,
		`{"schema": "syntax = \"proto3\"; message M { string a = 1; }"}`,
		`{"schema": "syntax = \"proto3\"; message M { string a = 1; }", "schemaType": "PROTOBUF", "references": []}`,
		`{"schema": "syntax = \"proto3\"; import \"x.proto\"; message M { X a = 1; }", "references": [{"name": "x.proto", "subject": "x", "version": 1}]}`,
		`{"schema": "syntax = \"proto3\"; message M { string a = 1; }", "id": 7, "version": 3}`,
		`{"schema": "` + base64.StdEncoding.EncodeToString(serialized) + `"}`,
		`{"schema": "syntax = \"proto2\"; message M { required group G = 1 { optional int32 x = 2; } extensions 10 to max; }"}`,
		`{"schema": "edition = \"2023\"; message M { string a = 1 [features.field_presence = IMPLICIT]; }"}`,
		`{"schema": "syntax = \"proto3\"; message M { map<string, M> m = 1; oneof o { int32 x = 2; } }", "schemaType": "AVRO"}`,
		`{"schema": "\u0000\ufffd"}`,
		`{"schema": "syntax = \"proto3\"; option (x) = 1; message M {}"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, path := range []string{"/subjects/fuzz/versions", "/subjects/fuzz", "/compatibility/subjects/fuzz/versions/latest?verbose=true"} {
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("POST", path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
			h.ServeHTTP(rec, req)
			if rec.Code >= 500 {
				t.Fatalf("POST %s %q: %d %s", path, body, rec.Code, rec.Body)
			}
		}
	})
}
