package wire_test

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/cairnhq/cairn/internal/wire"
)

func TestAppendParse(t *testing.T) {
	t.Parallel()
	payload := []byte{0x0a, 0x03, 'a', 'b', 'c'}
	tests := []struct {
		name    string
		header  wire.Header
		want    []byte // header bytes before the payload
		indexes []int  // as parsed back
	}{
		{"first message, empty indexes", wire.Header{SchemaID: 1}, []byte{0, 0, 0, 0, 1, 0}, []int{0}},
		{"first message shortcut", wire.Header{SchemaID: 7, Indexes: []int{0}}, []byte{0, 0, 0, 0, 7, 0}, []int{0}},
		{"second top-level message", wire.Header{SchemaID: 7, Indexes: []int{1}}, []byte{0, 0, 0, 0, 7, 2, 2}, []int{1}},
		{"nested message", wire.Header{SchemaID: 258, Indexes: []int{0, 2}}, []byte{0, 0, 0, 1, 2, 4, 0, 4}, []int{0, 2}},
		{"deeply nested", wire.Header{SchemaID: 1 << 24, Indexes: []int{3, 1, 0}}, []byte{0, 1, 0, 0, 0, 6, 6, 2, 0}, []int{3, 1, 0}},
		{"index needing two bytes", wire.Header{SchemaID: 1, Indexes: []int{64}}, []byte{0, 0, 0, 0, 1, 2, 0x80, 0x01}, []int{64}},
		{"largest schema id", wire.Header{SchemaID: 1<<31 - 1, Indexes: []int{0}}, []byte{0, 0x7f, 0xff, 0xff, 0xff, 0}, []int{0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			framed := wire.Append(nil, tt.header, payload)
			if want := append(slices.Clone(tt.want), payload...); !bytes.Equal(framed, want) {
				t.Fatalf("Append = % x, want % x", framed, want)
			}
			h, got, err := wire.Parse(framed)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if h.SchemaID != tt.header.SchemaID || !slices.Equal(h.Indexes, tt.indexes) {
				t.Errorf("Parse header = %+v, want id %d indexes %v", h, tt.header.SchemaID, tt.indexes)
			}
			if !bytes.Equal(got, payload) {
				t.Errorf("Parse payload = % x, want % x", got, payload)
			}
		})
	}
}

func TestParseEmptyPayload(t *testing.T) {
	t.Parallel()
	h, payload, err := wire.Parse([]byte{0, 0, 0, 0, 3, 0})
	if err != nil || h.SchemaID != 3 || len(payload) != 0 {
		t.Fatalf("Parse = %+v, % x, %v; want id 3, empty payload", h, payload, err)
	}
}

func TestParseMalformed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		input []byte
	}{
		{"empty", nil},
		{"too short", []byte{0, 0, 0, 0, 1}},
		{"wrong magic byte", []byte{1, 0, 0, 0, 1, 0}},
		{"zero schema id", []byte{0, 0, 0, 0, 0, 0}},
		{"negative schema id", []byte{0, 0x80, 0, 0, 1, 0}},
		{"negative count", []byte{0, 0, 0, 0, 1, 1}},
		{"count larger than limit", []byte{0, 0, 0, 0, 1, 0xfe, 0x01}},
		{"truncated count varint", []byte{0, 0, 0, 0, 1, 0x80}},
		{"count without indexes", []byte{0, 0, 0, 0, 1, 4, 2}},
		{"negative index", []byte{0, 0, 0, 0, 1, 2, 1}},
		{"truncated index varint", []byte{0, 0, 0, 0, 1, 2, 0x80}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, _, err := wire.Parse(tt.input); !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("Parse(% x) error = %v, want ErrMalformed", tt.input, err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0x0a, 0x01, 'x'})
	f.Add([]byte{0, 0, 0, 1, 2, 4, 0, 4})
	f.Add([]byte{0, 0, 0, 0, 1, 0xfe, 0x01})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, payload, err := wire.Parse(b)
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if len(h.Indexes) == 0 {
			t.Fatal("parsed header has no indexes")
		}
		// A parsed record re-frames to a record that parses the same.
		again, payload2, err := wire.Parse(wire.Append(nil, h, payload))
		if err != nil {
			t.Fatalf("re-framed record does not parse: %v", err)
		}
		if again.SchemaID != h.SchemaID || !slices.Equal(again.Indexes, h.Indexes) || !bytes.Equal(payload, payload2) {
			t.Fatalf("round trip changed the record: %+v -> %+v", h, again)
		}
	})
}
