package workers

import (
	"fmt"
)

// fallbackEventID identifies a record that carries no event id by where it
// is in the log, which is as stable as an id.
func fallbackEventID(topic string, partition int32, offset int64) string {
	return fmt.Sprintf("%s/%d/%d", topic, partition, offset)
}
