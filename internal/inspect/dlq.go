package inspect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
)

// headerDLQPrefix starts the names of the headers a worker adds to a
// record it dead-letters (wire.HeaderDLQReason …).
const headerDLQPrefix = "cairn-dlq-"

// DeadLetter is one record of the dead-letter topic: where it came from,
// why it was set aside, and the original record decoded as far as possible.
type DeadLetter struct {
	// Partition and Offset locate it in the dead-letter topic; ID is
	// "PARTITION:OFFSET".
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	ID        string `json:"id"`
	// Reason and Error are the worker's: why it could not handle the record.
	Reason string `json:"reason"`
	Error  string `json:"error"`
	// Source is where the record was first produced.
	SourceTopic     string    `json:"source_topic"`
	SourcePartition int32     `json:"source_partition"`
	SourceOffset    int64     `json:"source_offset"`
	DeadAt          time.Time `json:"dead_at"`
	// Record is the original record (its cairn-dlq-* headers left out) as
	// it decodes now, through today's registry.
	Record Record `json:"record"`

	msg *kafkax.Read // the original record: value, key, own headers
}

// EventID returns the original record's cairn-event-id, or "".
func (d *DeadLetter) EventID() string { return d.Record.Header(wire.HeaderEventID) }

// ParseID parses a dead letter's id, "PARTITION:OFFSET".
func ParseID(s string) (partition int32, offset int64, err error) {
	ps, os, ok := strings.Cut(s, ":")
	p, perr := strconv.ParseInt(ps, 10, 32)
	o, oerr := strconv.ParseInt(os, 10, 64)
	if !ok || perr != nil || oerr != nil || p < 0 || o < 0 {
		return 0, 0, fmt.Errorf("dead letter id %q: want PARTITION:OFFSET, two numbers from 0", s)
	}
	return int32(p), o, nil
}

// newDeadLetter splits a dead-letter topic record into its parts and
// decodes the original record.
func newDeadLetter(ctx context.Context, dec *Decoder, m *kafkax.Read) (DeadLetter, error) {
	d := DeadLetter{Partition: m.Partition, Offset: m.Offset, ID: fmt.Sprintf("%d:%d", m.Partition, m.Offset), SourcePartition: -1, SourceOffset: -1}
	orig := *m
	orig.Headers = nil
	for _, h := range m.Headers {
		v := string(h.Value)
		switch h.Key {
		case wire.HeaderDLQReason:
			d.Reason = v
		case wire.HeaderDLQError:
			d.Error = v
		case wire.HeaderDLQTopic:
			d.SourceTopic = v
		case wire.HeaderDLQPartition:
			if p, err := strconv.ParseInt(v, 10, 32); err == nil {
				d.SourcePartition = int32(p)
			}
		case wire.HeaderDLQOffset:
			if o, err := strconv.ParseInt(v, 10, 64); err == nil {
				d.SourceOffset = o
			}
		case wire.HeaderDLQTime:
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
				d.DeadAt = t
			}
		default:
			if !strings.HasPrefix(h.Key, headerDLQPrefix) {
				orig.Headers = append(orig.Headers, h)
			}
		}
	}
	if d.Reason == "" {
		d.Reason = "unknown"
	}
	if d.DeadAt.IsZero() {
		d.DeadAt = m.Time.UTC()
	}
	if d.SourceTopic != "" {
		orig.Topic, orig.Partition, orig.Offset = d.SourceTopic, d.SourcePartition, d.SourceOffset
	}
	rec, err := dec.Decode(ctx, &orig)
	d.Record = rec
	d.msg = &orig
	return d, err
}

// Filter selects dead letters. Zero fields select everything.
type Filter struct {
	// IDs, when set, select only these dead letters ("PARTITION:OFFSET").
	IDs         []string
	Reason      string
	SourceTopic string
	// FromOffset and ToOffset bound the source offset (inclusive); -1 or
	// zero-valued Filter fields mean no bound (see HasOffsets).
	FromOffset, ToOffset int64
	HasOffsets           bool
	// Since and Until bound the time the record was dead-lettered.
	Since, Until time.Time
}

// Match reports whether f selects d.
func (f Filter) Match(d DeadLetter) bool {
	if len(f.IDs) > 0 {
		found := false
		for _, id := range f.IDs {
			if id == d.ID {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	switch {
	case f.Reason != "" && f.Reason != d.Reason,
		f.SourceTopic != "" && f.SourceTopic != d.SourceTopic,
		f.HasOffsets && (d.SourceOffset < f.FromOffset || f.ToOffset >= 0 && d.SourceOffset > f.ToOffset),
		!f.Since.IsZero() && d.DeadAt.Before(f.Since),
		!f.Until.IsZero() && d.DeadAt.After(f.Until):
		return false
	}
	return true
}

// ReadDeadLetters reads the dead-letter topic from its beginning to its
// current end and returns the dead letters f selects, oldest first per
// partition. A registry that is down leaves records undecoded; its error is
// returned beside them (the first one), for a warning.
func ReadDeadLetters(ctx context.Context, src Source, dec *Decoder, topic string, f Filter) ([]DeadLetter, error, error) {
	if _, err := checkTopics(ctx, src, []string{topic}); err != nil {
		return nil, nil, err
	}
	if err := src.Assign(ctx, []string{topic}, kafkax.Start{FromBeginning: true}, true); err != nil {
		return nil, nil, err
	}
	var (
		out     []DeadLetter
		regDown error
	)
	for {
		m, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", topic, err)
		}
		d, derr := newDeadLetter(ctx, dec, m)
		if derr != nil && regDown == nil {
			regDown = derr
		}
		if f.Match(d) {
			out = append(out, d)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Partition != out[j].Partition {
			return out[i].Partition < out[j].Partition
		}
		return out[i].Offset < out[j].Offset
	})
	return out, regDown, nil
}

// Group is the dead letters of one reason and source topic.
type Group struct {
	Reason      string    `json:"reason"`
	SourceTopic string    `json:"source_topic"`
	Count       int       `json:"count"`
	First       time.Time `json:"first"`
	Last        time.Time `json:"last"`
	// Example is the latest one's error.
	Example string `json:"example_error"`
}

// Groups groups dead letters by reason and source topic, the largest group
// first.
func Groups(ds []DeadLetter) []Group {
	type key struct{ reason, topic string }
	idx := make(map[key]int)
	var gs []Group
	for _, d := range ds {
		k := key{d.Reason, d.SourceTopic}
		i, ok := idx[k]
		if !ok {
			i = len(gs)
			idx[k] = i
			gs = append(gs, Group{Reason: d.Reason, SourceTopic: d.SourceTopic, First: d.DeadAt, Last: d.DeadAt})
		}
		g := &gs[i]
		g.Count++
		if d.DeadAt.Before(g.First) {
			g.First = d.DeadAt
		}
		if !d.DeadAt.Before(g.Last) {
			g.Last, g.Example = d.DeadAt, d.Error
		}
	}
	sort.SliceStable(gs, func(i, j int) bool {
		if gs[i].Count != gs[j].Count {
			return gs[i].Count > gs[j].Count
		}
		if gs[i].Reason != gs[j].Reason {
			return gs[i].Reason < gs[j].Reason
		}
		return gs[i].SourceTopic < gs[j].SourceTopic
	})
	return gs
}

// Producer produces one record and waits for Kafka's acknowledgement.
type Producer interface {
	Produce(ctx context.Context, topic string, key, value []byte, headers []kafkax.Header) (kafkax.Position, error)
}

// Outcome is what Replay did with one dead letter.
type Outcome string

// The outcomes of a replay.
const (
	// OutcomeReplayed: produced again to its source topic.
	OutcomeReplayed Outcome = "replayed"
	// OutcomeWouldReplay: a dry run would have replayed it.
	OutcomeWouldReplay Outcome = "would_replay"
	// OutcomeRefused: not replayed, for Result.Why.
	OutcomeRefused Outcome = "refused"
)

// Result is one dead letter's replay.
type Result struct {
	DeadLetter DeadLetter `json:"dead_letter"`
	Outcome    Outcome    `json:"outcome"`
	// Why says why it was refused.
	Why string `json:"why,omitempty"`
	// Position is where it was produced.
	Position *kafkax.Position `json:"position,omitempty"`
}

// Summary counts a replay's outcomes.
type Summary struct {
	Replayed, WouldReplay, Refused int
}

// Summarize counts results by outcome.
func Summarize(rs []Result) Summary {
	var s Summary
	for _, r := range rs {
		switch r.Outcome {
		case OutcomeReplayed:
			s.Replayed++
		case OutcomeWouldReplay:
			s.WouldReplay++
		case OutcomeRefused:
			s.Refused++
		}
	}
	return s
}

func (s Summary) String() string {
	return fmt.Sprintf("%d replayed, %d would be replayed (dry run), %d refused", s.Replayed, s.WouldReplay, s.Refused)
}

// Replay produces each dead letter again to its source topic, with its
// original key, value and headers (its cairn-event-id included, so a
// worker applies it at most once however often it is replayed), the
// cairn-dlq-* headers left out. A nil producer makes it a dry run. A dead
// letter is refused, with the reason, when its source topic no longer
// exists, when it still does not decode with today's registry, or when it
// has no cairn-event-id (a worker could not tell a second replay from a new
// event); the others are replayed all the same. topics are the topics the
// cluster has.
func Replay(ctx context.Context, ds []DeadLetter, topics []kafkax.TopicInfo, p Producer) []Result {
	exists := make(map[string]bool, len(topics))
	for _, t := range topics {
		exists[t.Name] = true
	}
	out := make([]Result, 0, len(ds))
	for _, d := range ds {
		r := Result{DeadLetter: d}
		switch {
		case d.SourceTopic == "":
			r.Outcome, r.Why = OutcomeRefused, "the dead letter does not say its source topic (no cairn-dlq-topic header)"
		case !exists[d.SourceTopic]:
			r.Outcome, r.Why = OutcomeRefused, fmt.Sprintf("source topic %s no longer exists", d.SourceTopic)
		case d.Record.Status != StatusDecoded:
			r.Outcome, r.Why = OutcomeRefused, fmt.Sprintf("still does not decode (%s): %s", d.Record.Status, d.Record.Error)
		case d.EventID() == "":
			r.Outcome, r.Why = OutcomeRefused, "the record has no cairn-event-id header, so a worker could not tell a replay from a new event"
		case p == nil:
			r.Outcome = OutcomeWouldReplay
		default:
			pos, err := p.Produce(ctx, d.SourceTopic, d.msg.Key, d.msg.Value, d.msg.Headers)
			if err != nil {
				r.Outcome, r.Why = OutcomeRefused, fmt.Sprintf("produce to %s: %v", d.SourceTopic, err)
			} else {
				r.Outcome, r.Position = OutcomeReplayed, &pos
			}
		}
		out = append(out, r)
	}
	return out
}
