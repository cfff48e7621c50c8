package gateway

import (
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
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
	problem, at := badTime(m)
	if problem == "" {
		return nil
	}
	var b strings.Builder
	b.WriteString(path)
	for i := len(at) - 1; i >= 0; i-- { // at is innermost first
		b.WriteString(at[i])
	}
	return &rejection{msg: b.String() + ": " + problem}
}

// badTime returns what is wrong with the first bad Timestamp or Duration
// in m and the steps of its path, innermost first. The path is only built
// for a bad one, and fields are walked by their descriptors rather than
// with Range, whose callback escapes: a good message costs no allocation.
func badTime(m protoreflect.Message) (problem string, at []string) {
	switch m.Descriptor().FullName() {
	case "google.protobuf.Timestamp":
		return badTimestamp(m), nil
	case "google.protobuf.Duration":
		return badDuration(m), nil
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() == nil || !m.Has(fd) {
			continue
		}
		if problem, at = badTimeIn(fd, m.Get(fd)); problem != "" {
			return problem, at
		}
	}
	if m.Descriptor().ExtensionRanges().Len() > 0 {
		return badTimeInExtensions(m)
	}
	return "", nil
}

// badTimeInExtensions is badTime for the extensions set on m, which only
// Range lists.
func badTimeInExtensions(m protoreflect.Message) (problem string, at []string) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsExtension() && fd.Message() != nil {
			problem, at = badTimeIn(fd, v)
		}
		return problem == ""
	})
	return problem, at
}

// badTimeIn is badTime for the value v of m's message, list or map field fd.
func badTimeIn(fd protoreflect.FieldDescriptor, v protoreflect.Value) (problem string, at []string) {
	switch {
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if problem, at = badTime(l.Get(i).Message()); problem != "" {
				return problem, append(at, "."+string(fd.Name())+"["+strconv.Itoa(i)+"]")
			}
		}
	case fd.IsMap():
		if fd.MapValue().Message() != nil {
			return badTimeInMap(fd, v.Map())
		}
	default:
		if problem, at = badTime(v.Message()); problem != "" {
			at = append(at, "."+string(fd.Name()))
		}
	}
	return problem, at
}

// badTimeInMap is badTime for the message values of map field fd.
func badTimeInMap(fd protoreflect.FieldDescriptor, m protoreflect.Map) (problem string, at []string) {
	m.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
		if problem, at = badTime(mv.Message()); problem != "" {
			at = append(at, "."+string(fd.Name())+"["+strconv.Quote(k.String())+"]")
		}
		return problem == ""
	})
	return problem, at
}

// secondsNanos reads the seconds (field 1) and nanos (field 2) that
// Timestamp and Duration share, from a generated or a dynamic message.
func secondsNanos(m protoreflect.Message) (int64, int32) {
	fields := m.Descriptor().Fields()
	return m.Get(fields.ByNumber(1)).Int(), int32(m.Get(fields.ByNumber(2)).Int())
}

func badTimestamp(m protoreflect.Message) string {
	sec, nanos := secondsNanos(m)
	return timestampProblem(sec, nanos)
}

// timestampProblem says what is wrong with a Timestamp of seconds and
// nanos, or "".
func timestampProblem(sec int64, nanos int32) string {
	switch {
	case sec < minTimestampSeconds || sec > maxTimestampSeconds:
		return fmt.Sprintf("timestamp seconds %d is outside the years 0001 to 9999", sec)
	case nanos < 0 || nanos >= 1e9:
		return fmt.Sprintf("timestamp nanos %d is outside [0, 999999999]", nanos)
	}
	return ""
}

func badDuration(m protoreflect.Message) string {
	sec, nanos := secondsNanos(m)
	switch {
	case sec < -maxDurationSeconds || sec > maxDurationSeconds:
		return fmt.Sprintf("duration seconds %d is beyond ±10,000 years", sec)
	case nanos <= -1e9 || nanos >= 1e9:
		return fmt.Sprintf("duration nanos %d is outside (-1e9, 1e9)", nanos)
	case (sec < 0 && nanos > 0) || (sec > 0 && nanos < 0):
		return fmt.Sprintf("duration seconds %d and nanos %d have different signs", sec, nanos)
	}
	return ""
}

// envelopeTimes is checkTimes for the envelope, without walking it: its one
// Timestamp or Duration is occurred_at (TestEnvelopeTimes holds it to
// that). Walking it took 3 % of a Publish.
func envelopeTimes(ev *gatewayv1.Event) error {
	at := ev.GetOccurredAt()
	if at == nil {
		return nil
	}
	if problem := timestampProblem(at.GetSeconds(), at.GetNanos()); problem != "" {
		return &rejection{msg: "event.occurred_at: " + problem}
	}
	return nil
}
