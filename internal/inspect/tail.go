package inspect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
)

// Format is how Tail prints records.
type Format string

// The output formats.
const (
	// FormatText prints one line per record, for people.
	FormatText Format = "text"
	// FormatJSON prints one JSON object per line, for jq.
	FormatJSON Format = "json"
)

// ParseFormat parses text or json.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatText, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want text or json", s)
}

// Source is what Tail reads: *kafkax.Reader is one.
type Source interface {
	Topics(ctx context.Context) ([]kafkax.TopicInfo, error)
	Assign(ctx context.Context, topics []string, start kafkax.Start, stopAtEnd bool) error
	Next(ctx context.Context) (*kafkax.Read, error)
}

// TailOptions configures Tail.
type TailOptions struct {
	// Topics to read; empty means every topic the cluster has.
	Topics []string
	// Start is where each partition is read from.
	Start kafkax.Start
	// Follow keeps reading new records; otherwise Tail stops at the end of
	// the logs as they were when it started.
	Follow bool
	// Type keeps only records of this message type (full name).
	Type string
	// Key keeps only records with this key.
	Key string
	// Limit stops after that many records printed; 0 means no limit.
	Limit int
	// Format is how records are printed; empty means FormatText.
	Format Format
}

// UnknownTopicError is returned by Tail for topics the cluster lacks.
type UnknownTopicError struct {
	Missing []string
	// Have are the topics the cluster has.
	Have []string
}

func (e *UnknownTopicError) Error() string {
	have := "none"
	if len(e.Have) > 0 {
		have = strings.Join(e.Have, ", ")
	}
	return fmt.Sprintf("no such topic: %s; the topics that exist: %s", strings.Join(e.Missing, ", "), have)
}

// Tail prints the records of the topics to out, one per line, until the end
// of the logs (or forever with Follow), Limit, or ctx ends (which is not an
// error). Registry failures are reported once on warn, and the records
// printed undecoded.
func Tail(ctx context.Context, src Source, dec *Decoder, opts TailOptions, out, warn io.Writer) error {
	topics, err := checkTopics(ctx, src, opts.Topics)
	if err != nil {
		return err
	}
	if err := src.Assign(ctx, topics, opts.Start, !opts.Follow); err != nil {
		return err
	}
	p := Printer{Format: opts.Format}
	printed := 0
	var warned bool
	for opts.Limit <= 0 || printed < opts.Limit {
		m, err := src.Next(ctx)
		if errors.Is(err, io.EOF) || ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return err
		}
		if opts.Key != "" && string(m.Key) != opts.Key {
			continue
		}
		rec, derr := dec.Decode(ctx, m)
		switch {
		case derr != nil && !warned:
			fmt.Fprintf(warn, "warning: %v; printing records undecoded until it answers\n", derr)
			warned = true
		case derr == nil && rec.SchemaID != 0:
			warned = false // the registry answered: warn again if it goes
		}
		if opts.Type != "" && rec.Type != opts.Type && rec.Header(wire.HeaderEventType) != opts.Type {
			continue
		}
		if err := p.Print(out, rec); err != nil {
			return err
		}
		printed++
	}
	return nil
}

// checkTopics returns the topics to read: the given ones, which must exist,
// or all of them.
func checkTopics(ctx context.Context, src Source, want []string) ([]string, error) {
	infos, err := src.Topics(ctx)
	if err != nil {
		return nil, err
	}
	have := make([]string, len(infos))
	for i, t := range infos {
		have[i] = t.Name
	}
	if len(want) == 0 {
		if len(have) == 0 {
			return nil, errors.New("the cluster has no topics")
		}
		return have, nil
	}
	var missing []string
	for _, t := range want {
		if !slices.Contains(have, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return nil, &UnknownTopicError{Missing: missing, Have: have}
	}
	return want, nil
}

// Printer prints records in a format.
type Printer struct {
	Format Format
}

// Print writes one line for rec.
func (p Printer) Print(w io.Writer, rec Record) error {
	var b []byte
	if p.Format == FormatJSON {
		var err error
		if b, err = json.Marshal(rec); err != nil {
			return fmt.Errorf("record as JSON: %w", err)
		}
	} else {
		b = []byte(TextLine(rec))
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("print record: %w", err)
	}
	return nil
}

// TextLine renders a record on one line: time, topic/partition@offset,
// key, cairn-* headers, then the type and the payload as ProtoJSON, or what
// kept it from decoding and its bytes in base64.
func TextLine(rec Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%d@%d", rec.Time.Format(time.RFC3339Nano), rec.Topic, rec.Partition, rec.Offset)
	if rec.KeyBase64 {
		fmt.Fprintf(&b, " key(base64)=%s", rec.Key)
	} else {
		fmt.Fprintf(&b, " key=%q", rec.Key)
	}
	for _, h := range rec.Headers {
		fmt.Fprintf(&b, " %s=%s", h.Key, quoteIfNeeded(h.Value))
	}
	if rec.Status == StatusDecoded {
		var compact bytes.Buffer
		if json.Compact(&compact, rec.Payload) != nil {
			compact.Reset()
			compact.Write(rec.Payload)
		}
		fmt.Fprintf(&b, " %s %s", rec.Type, compact.String())
		return b.String()
	}
	fmt.Fprintf(&b, " [%s] %s bytes(base64)=%s", strings.ToUpper(string(rec.Status)), quoteIfNeeded(rec.Error), rec.Bytes)
	return b.String()
}

func quoteIfNeeded(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\n\"=") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
