package gateway

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The ranges google.protobuf.Timestamp and Duration document: a Timestamp
// lies in the years 0001 to 9999 with nanos in [0, 1e9); a Duration spans
// at most ±10,000 years with nanos of its seconds' sign and below 1e9.
const (
	minTimestampSeconds = -62135596800 // 0001-01-01T00:00:00Z
	maxTimestampSeconds = 253402300799 // 9999-12-31T23:59:59Z
	maxDurationSeconds  = 315576000000
)

// typeURLPrefix is the one prefix a payload's type_url may carry.
const typeURLPrefix = "type.googleapis.com/"

// messageName returns the message name a type_url names: it must be
// "type.googleapis.com/<full name>" or the bare "/<full name>".
func messageName(url string) (protoreflect.FullName, error) {
	var rest string
	switch {
	case strings.HasPrefix(url, typeURLPrefix):
		rest = url[len(typeURLPrefix):]
	case strings.HasPrefix(url, "/"):
		rest = url[1:]
	default:
		return "", &rejection{msg: "event.payload.type_url " + strconv.Quote(url) + " must be \"" + typeURLPrefix + "<message full name>\""}
	}
	name := protoreflect.FullName(rest)
	if !name.IsValid() {
		return "", &rejection{msg: "event.payload.type_url " + strconv.Quote(url) + " does not end in a message name"}
	}
	return name, nil
}

// checkTimes checks every google.protobuf.Timestamp and Duration set in m,
// at any depth (nested messages, lists and map values), against the ranges
// their definitions allow; the error names the first bad one by its path
// below path. Messages packed in an Any are not looked into.
func checkTimes(m protoreflect.Message, path string) error {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		return checkTimestamp(m, path)
	case "google.protobuf.Duration":
		return checkDuration(m, path)
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			if fd.Message() == nil {
				return true
			}
			l := v.List()
			for i := range l.Len() {
				if err = checkTimes(l.Get(i).Message(), path+"."+string(fd.Name())+"["+strconv.Itoa(i)+"]"); err != nil {
					return false
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				err = checkTimes(mv.Message(), path+"."+string(fd.Name())+"["+strconv.Quote(k.String())+"]")
				return err == nil
			})
			return err == nil
		case fd.Message() != nil:
			err = checkTimes(v.Message(), path+"."+string(fd.Name()))
			return err == nil
		}
		return true
	})
	return err
}

// secondsNanos reads the seconds (field 1) and nanos (field 2) that
// Timestamp and Duration share, from a generated or a dynamic message.
func secondsNanos(m protoreflect.Message) (int64, int32) {
	fields := m.Descriptor().Fields()
	return m.Get(fields.ByNumber(1)).Int(), int32(m.Get(fields.ByNumber(2)).Int())
}

func checkTimestamp(m protoreflect.Message, path string) error {
	sec, nanos := secondsNanos(m)
	switch {
	case sec < minTimestampSeconds || sec > maxTimestampSeconds:
		return &rejection{msg: fmt.Sprintf("%s: timestamp seconds %d is outside the years 0001 to 9999", path, sec)}
	case nanos < 0 || nanos >= 1e9:
		return &rejection{msg: fmt.Sprintf("%s: timestamp nanos %d is outside [0, 999999999]", path, nanos)}
	}
	return nil
}

func checkDuration(m protoreflect.Message, path string) error {
	sec, nanos := secondsNanos(m)
	switch {
	case sec < -maxDurationSeconds || sec > maxDurationSeconds:
		return &rejection{msg: fmt.Sprintf("%s: duration seconds %d is beyond ±10,000 years", path, sec)}
	case nanos <= -1e9 || nanos >= 1e9:
		return &rejection{msg: fmt.Sprintf("%s: duration nanos %d is outside (-1e9, 1e9)", path, nanos)}
	case (sec < 0 && nanos > 0) || (sec > 0 && nanos < 0):
		return &rejection{msg: fmt.Sprintf("%s: duration seconds %d and nanos %d have different signs", path, sec, nanos)}
	}
	return nil
}
