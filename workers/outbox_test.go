package workers

import (
	"bytes"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// FuzzDecodeOutbox: an outbox row's events decode to what encoding them
// again gives back byte for byte, or fail with errOutboxEncoding; never a
// panic, and never a field read from beyond the row.
func FuzzDecodeOutbox(f *testing.F) {
	f.Add(appendOutbox(nil, []outboxRow{{EventID: "d1", Type: "x.v1.A", Key: []byte("k"), Payload: []byte{0, 1}}}))
	f.Add(appendOutbox(nil, []outboxRow{
		{EventID: "d1", Type: "x.v1.A", Key: []byte{}, Payload: []byte{}, Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", Tracestate: "v=1"},
		{EventID: "d2", Type: "x.v1.B"},
	}))
	f.Add([]byte{0, 0, 0, 2, 'd'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, err := decodeOutbox(b)
		if err != nil {
			if !errors.Is(err, errOutboxEncoding) || rows != nil {
				t.Fatalf("decode failed with %v and %d rows", err, len(rows))
			}
			return
		}
		if again := appendOutbox(nil, rows); !bytes.Equal(again, b) {
			t.Fatalf("decoded %+v, which encodes to %x, not %x", rows, again, b)
		}
	})
}

// TestOutboxRoundTrip: a batch's derived events decode as they were
// encoded, empty fields and all.
func TestOutboxRoundTrip(t *testing.T) {
	rows := []outboxRow{
		{EventID: "d1-é", Type: "x.v1.A", Key: []byte("k\x00"), Payload: bytes.Repeat([]byte{7}, 70_000), Traceparent: "tp", Tracestate: "ts"},
		{EventID: "d2", Type: "x.v1.B", Key: []byte{}, Payload: []byte{}},
	}
	got, err := decodeOutbox(appendOutbox(nil, rows))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(rows, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	for _, bad := range [][]byte{nil, {0, 0, 0}, {0, 0, 0, 1}, appendOutbox(nil, []outboxRow{{Type: "x.v1.A"}}), appendOutbox(nil, []outboxRow{{EventID: "d", Type: "not a name"}})} {
		if _, err := decodeOutbox(bad); !errors.Is(err, errOutboxEncoding) {
			t.Errorf("decode %x: %v, want errOutboxEncoding", bad, err)
		}
	}
}
