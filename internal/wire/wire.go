// Package wire is the contract of a Cairn record: its framing, its header
// names (HeaderEventID …, the dead-letter HeaderDLQReason …) and the ids of
// derived events (DerivedEventID). The gateway and the workers write
// records only through it.
//
// Payloads are framed in the Confluent Schema Registry wire format, so that
// any Confluent-compatible client can read Cairn's topics:
//
//	0x00 | schema id (4 bytes, big endian) | message indexes | payload
//
// The message indexes locate the message type inside its schema file: a
// zigzag varint count followed by that many zigzag varint indexes, the first
// among the file's top-level messages and each next one among the previous
// message's nested messages. The common case, the file's first message, is
// written as the single byte 0 instead of count 1, index 0.
//
// The functions are safe for concurrent use.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MagicByte opens every framed record.
const MagicByte = 0x00

// MaxIndexes bounds how deeply nested a message type may be. It keeps a
// hostile record from claiming a huge count.
const MaxIndexes = 64

// Header is what precedes the payload of a framed record.
type Header struct {
	// SchemaID is the registry id of the schema file.
	SchemaID int32
	// Indexes locate the message type within the file; never empty.
	Indexes []int
}

// ErrMalformed is returned (wrapped) for bytes that are not a well-formed
// framed record.
var ErrMalformed = errors.New("malformed wire-format record")

// Append appends the framed payload to dst and returns the extended slice.
// Empty indexes mean the file's first message, as does []int{0}.
func Append(dst []byte, h Header, payload []byte) []byte {
	dst = append(dst, MagicByte)
	dst = binary.BigEndian.AppendUint32(dst, uint32(h.SchemaID))
	dst = AppendIndexes(dst, h.Indexes)
	return append(dst, payload...)
}

// Frame returns payload framed for the message type that h names, in a new
// slice.
func Frame(h Header, payload []byte) []byte {
	return Append(make([]byte, 0, 16+len(payload)), h, payload)
}

// AppendIndexes appends the encoded message indexes to dst.
func AppendIndexes(dst []byte, indexes []int) []byte {
	if len(indexes) == 0 || len(indexes) == 1 && indexes[0] == 0 {
		return append(dst, 0)
	}
	dst = binary.AppendVarint(dst, int64(len(indexes)))
	for _, i := range indexes {
		dst = binary.AppendVarint(dst, int64(i))
	}
	return dst
}

// Parse splits a framed record into its header and payload. The payload
// aliases b.
func Parse(b []byte) (Header, []byte, error) {
	if len(b) < 6 {
		return Header{}, nil, fmt.Errorf("%w: %d bytes, need at least 6", ErrMalformed, len(b))
	}
	if b[0] != MagicByte {
		return Header{}, nil, fmt.Errorf("%w: magic byte is 0x%02x, want 0x00", ErrMalformed, b[0])
	}
	h := Header{SchemaID: int32(binary.BigEndian.Uint32(b[1:5]))}
	if h.SchemaID <= 0 {
		return Header{}, nil, fmt.Errorf("%w: schema id %d is not positive", ErrMalformed, h.SchemaID)
	}
	indexes, n, err := parseIndexes(b[5:])
	if err != nil {
		return Header{}, nil, err
	}
	h.Indexes = indexes
	return h, b[5+n:], nil
}

func parseIndexes(b []byte) ([]int, int, error) {
	count, n := binary.Varint(b)
	if n <= 0 {
		return nil, 0, fmt.Errorf("%w: message index count is not a varint", ErrMalformed)
	}
	if count == 0 {
		return []int{0}, n, nil
	}
	if count < 0 || count > MaxIndexes {
		return nil, 0, fmt.Errorf("%w: message index count %d is outside 1..%d", ErrMalformed, count, MaxIndexes)
	}
	indexes := make([]int, 0, count)
	for range count {
		i, m := binary.Varint(b[n:])
		if m <= 0 {
			return nil, 0, fmt.Errorf("%w: message index %d is not a varint", ErrMalformed, len(indexes))
		}
		if i < 0 || i > 1<<20 {
			return nil, 0, fmt.Errorf("%w: message index %d is %d", ErrMalformed, len(indexes), i)
		}
		indexes = append(indexes, int(i))
		n += m
	}
	return indexes, n, nil
}
