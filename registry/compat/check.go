package compat

import "google.golang.org/protobuf/reflect/protoreflect"

// Check returns the incompatibilities that keep candidate from following the
// existing versions at level, or nothing when it may be registered. existing
// holds the subject's live versions, oldest first; candidate and every
// element of existing must be non-nil.
//
// A non-transitive level compares with the latest version only, a transitive
// one with each version, newest first (as Confluent does). For each version,
// the BACKWARD check (candidate reads) comes before the FORWARD check
// (version reads), then the events' security options (see
// EventOptionChanged), whatever the direction. NONE and an empty existing
// accept anything; a Level that is none of the constants checks as
// FULL_TRANSITIVE.
//
// Check is safe for concurrent use.
func Check(level Level, candidate protoreflect.FileDescriptor, existing []protoreflect.FileDescriptor) []Incompatibility {
	if level == None || len(existing) == 0 {
		return nil
	}
	first := len(existing) - 1
	if level.transitive() {
		first = 0
	}
	var found []Incompatibility
	for v := len(existing) - 1; v >= first; v-- {
		if level.backward() {
			found = appendVersion(found, diff(existing[v], candidate, true), v, false)
		}
		if level.forward() {
			found = appendVersion(found, diff(candidate, existing[v], false), v, true)
		}
		found = appendVersion(found, eventOptionChanges(existing[v], candidate), v, false)
	}
	return found
}

// appendVersion appends found to dst, marked as found against version v in
// the given direction.
func appendVersion(dst, found []Incompatibility, v int, forward bool) []Incompatibility {
	for _, inc := range found {
		inc.Version, inc.Forward = v, forward
		dst = append(dst, inc)
	}
	return dst
}
