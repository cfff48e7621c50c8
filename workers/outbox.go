package workers

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// outboxRow is one derived event waiting to be produced.
type outboxRow struct {
	EventID string
	Type    protoreflect.FullName
	Key     []byte
	Payload []byte
	// Traceparent and Tracestate are the trace context of the apply that
	// derived the event; "" when it was not traced.
	Traceparent, Tracestate string
}

// outboxBatch is the derived events one batch wrote, in the order derived,
// and the batch's key: the offset it saved.
type outboxBatch struct {
	next int64
	rows []outboxRow
}

// The outbox holds one row per batch (worker_outbox_batches), whose events
// column is the batch's derived events in order, each as six fields (event
// id, type, key, payload, traceparent, tracestate), each field a 4-byte
// big-endian length and that many bytes. A migration step writes the same
// encoding in SQL, from the table of one row per event it replaced.
const outboxFields = 6

// appendOutbox appends the encoding of rows to b.
func appendOutbox(b []byte, rows []outboxRow) []byte {
	for _, r := range rows {
		b = appendField(b, r.EventID)
		b = appendField(b, string(r.Type))
		b = appendField(b, r.Key)
		b = appendField(b, r.Payload)
		b = appendField(b, r.Traceparent)
		b = appendField(b, r.Tracestate)
	}
	return b
}

func appendField[T string | []byte](b []byte, v T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
	return append(b, v...)
}

// errOutboxEncoding means an outbox row's events column does not decode.
var errOutboxEncoding = errors.New("outbox row does not decode")

// decodeOutbox decodes a batch's derived events. The keys and payloads
// share b.
func decodeOutbox(b []byte) ([]outboxRow, error) {
	var rows []outboxRow
	var f [outboxFields][]byte
	for len(b) > 0 {
		for i := range f {
			if len(b) < 4 {
				return nil, fmt.Errorf("%w: event %d ends inside a field's length", errOutboxEncoding, len(rows))
			}
			n := uint64(binary.BigEndian.Uint32(b))
			if n > uint64(len(b)-4) {
				return nil, fmt.Errorf("%w: event %d has a field of %d bytes, %d are left", errOutboxEncoding, len(rows), n, len(b)-4)
			}
			end := 4 + int(n)
			f[i], b = b[4:end:end], b[end:]
		}
		name := protoreflect.FullName(f[1])
		if len(f[0]) == 0 || !name.IsValid() {
			return nil, fmt.Errorf("%w: event %d has id %q and type %q", errOutboxEncoding, len(rows), f[0], f[1])
		}
		rows = append(rows, outboxRow{
			EventID: string(f[0]), Type: name, Key: f[2], Payload: f[3],
			Traceparent: string(f[4]), Tracestate: string(f[5]),
		})
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: no events", errOutboxEncoding)
	}
	return rows, nil
}
