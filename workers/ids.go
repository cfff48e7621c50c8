package workers

import (
	"fmt"
	"time"
)

// fallbackEventID identifies a record that carries no event id by where it
// is in the log, which is as stable as an id.
func fallbackEventID(topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s/%d/%d", topic, partition, offset)
}

// receivedAt parses the gateway's cairn-received-at header. A record
// without a valid one (written before the gateway stamped it) falls back to
// its Kafka timestamp: the producer's or the broker's clock, never a time
// the client claims.
func receivedAt(header string, recordTime time.Time) time.Time {
	if header != "" {
		if t, err := time.Parse(time.RFC3339Nano, header); err == nil {
			return t.UTC()
		}
	}
	return recordTime.UTC()
}

// appliedKey is the key under which an event is recorded as applied: its
// id, scoped by who published it, so that one principal's id never
// shadows another's; the principal's length makes the key unambiguous.
// Records without a principal (derived events read
// back, old records) keep their bare id.
func appliedKey(principal, eventID string) string {
	if principal == "" {
		return eventID
	}
	return fmt.Sprintf("%d:%s/%s", len(principal), principal, eventID)
}
