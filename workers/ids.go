package workers

import (
	"crypto/sha1"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// HeaderEventID is the record header holding an event's id; it is the
// gateway's cairn-event-id, and the relay sets it on derived events.
const HeaderEventID = "cairn-event-id"

// derivedNamespace is the UUID namespace of derived event ids.
var derivedNamespace = [16]byte{0x6b, 0x1f, 0x3e, 0x5d, 0x8a, 0x2c, 0x4b, 0x7e, 0x9d, 0x01, 0xc4, 0x5a, 0x63, 0xe8, 0x17, 0xf2}

// derivedEventID is the id of the derived event of type kind caused by the
// event cause: a name-based UUID (version 5, RFC 9562), so that applying the
// cause again, after a crash or on another worker, derives the same id.
func derivedEventID(cause string, kind protoreflect.FullName) string {
	h := sha1.New()
	h.Write(derivedNamespace[:])
	h.Write([]byte(cause))
	h.Write([]byte{0})
	h.Write([]byte(kind))
	var u [16]byte
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// fallbackEventID identifies a record that carries no event id by where it
// is in the log, which is as stable as an id.
func fallbackEventID(topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s/%d/%d", topic, partition, offset)
}
