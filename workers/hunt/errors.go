package hunt

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Reasons an event is rejected or a read finds nothing. Apply returns them
// wrapped in a *RejectedError; the read methods wrap them with the ids
// asked for. Test with errors.Is. They are values that are never changed, so
// safe for concurrent use.
var (
	// ErrUnknownHunt means no hunt has been created with the hunt id.
	ErrUnknownHunt = errors.New("unknown hunt")
	// ErrNotJoined means the player has not joined the hunt.
	ErrNotJoined = errors.New("player has not joined the hunt")
	// ErrHuntExists means a hunt with the same id was created before.
	ErrHuntExists = errors.New("hunt already exists")
	// ErrHuntEnded means a player tried to join at or after the hunt's end.
	ErrHuntEnded = errors.New("hunt has ended")
	// ErrHuntFull means a player tried to join a hunt that has reached
	// max_players.
	ErrHuntFull = errors.New("hunt is full")
	// ErrInvalidEvent means the event lacks something the rules need (an id, a
	// valid timestamp, a clue, an answer) or breaks a schema rule.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrUnsupportedEvent means the event is not one of the input event types.
	ErrUnsupportedEvent = errors.New("unsupported event type")
)

// RejectedError reports an event that Apply could not apply; the State is
// unchanged. It is never modified after Apply returns it, so it is safe for
// concurrent use.
type RejectedError struct {
	// EventID is the event id given to Apply.
	EventID string
	// Event is the full protobuf name of the event's type (or its Go type
	// when it has no descriptor).
	Event string
	// Reason is one of the Err… sentinels.
	Reason error
	// Detail says what was wrong, for logs.
	Detail string
}

// Error describes the rejection.
func (e *RejectedError) Error() string {
	return fmt.Sprintf("hunt: reject %s %q: %v: %s", e.Event, e.EventID, e.Reason, e.Detail)
}

// Unwrap returns the Reason, so that errors.Is(err, ErrUnknownHunt) works.
func (e *RejectedError) Unwrap() error { return e.Reason }

func reject(eventID string, ev proto.Message, reason error, format string, args ...any) error {
	return &RejectedError{
		EventID: eventID,
		Event:   typeName(ev),
		Reason:  reason,
		Detail:  fmt.Sprintf(format, args...),
	}
}

func typeName(m proto.Message) string {
	if m == nil {
		return "nil"
	}
	if r := m.ProtoReflect(); r.IsValid() {
		return string(r.Descriptor().FullName())
	}
	return fmt.Sprintf("%T", m)
}
