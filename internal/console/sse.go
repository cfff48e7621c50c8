package console

import (
	"encoding/json"

	"github.com/cairnhq/cairn/internal/inspect"
)

// streamRecord is a tail record as the page receives it: the record and
// its text line.
type streamRecord struct {
	inspect.Record
	Line string `json:"line"`
}

func jsonLine(rec inspect.Record) ([]byte, error) {
	return json.Marshal(streamRecord{rec, inspect.TextLine(rec)})
}
