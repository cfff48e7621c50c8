package wire

import (
	"crypto/sha1"
	"fmt"
)

// derivedNamespace is the UUID namespace of derived event ids.
var derivedNamespace = [16]byte{0x6b, 0x1f, 0x3e, 0x5d, 0x8a, 0x2c, 0x4b, 0x7e, 0x9d, 0x01, 0xc4, 0x5a, 0x63, 0xe8, 0x17, 0xf2}

// DerivedEventID is the id of the derived event of type kind (a full
// message name) caused by the event with id cause: a name-based UUID
// (version 5, RFC 9562), so that applying the cause again, after a crash or
// on another worker, derives the same id.
func DerivedEventID(cause, kind string) string {
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

// IsUUID reports whether s is a UUID in its text form (hex digits of
// either case, dashes at 8, 13, 18 and 23), as event ids are: what the
// string.uuid rule of protovalidate accepts.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
