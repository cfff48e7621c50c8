package schemaplan

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/schemaload"
	optionsv1 "github.com/cairnhq/cairn/proto/cairn/options/v1"
)

// TopicStatus is what provisioning did, or would do, with one topic.
type TopicStatus string

// The statuses of a topic.
const (
	// TopicExists: the topic exists with the declared shape.
	TopicExists TopicStatus = "exists"
	// TopicMissing: the topic does not exist (check only).
	TopicMissing TopicStatus = "missing"
	// TopicCreated: the topic was created with the declared shape.
	TopicCreated TopicStatus = "created"
	// TopicDiffers: the topic exists with other settings; it was left
	// as it is.
	TopicDiffers TopicStatus = "DIFFERS"
	// TopicRefused: Kafka refused to create the topic.
	TopicRefused TopicStatus = "REFUSED"
)

// Topic is the outcome for one topic.
type Topic struct {
	Topic  string      `json:"topic"`
	Status TopicStatus `json:"status"`
	// Events are the events declaring the topic.
	Events  []string `json:"events"`
	Reasons []string `json:"reasons,omitempty"`
}

// Failed reports whether the topic is not as declared.
func (t Topic) Failed() bool { return t.Status == TopicDiffers || t.Status == TopicRefused }

// TopicAdmin creates and describes topics; *kafkax.Admin is one.
type TopicAdmin interface {
	CreateTopic(ctx context.Context, spec kafkax.TopicSpec) error
	DescribeTopic(ctx context.Context, name string) (kafkax.TopicState, bool, error)
}

// TopicSpecs returns the shape of each topic events declare, sorted by
// name, with the events declaring each. Events that share a topic and
// declare different non-default settings are an error.
func TopicSpecs(events []protoreflect.MessageDescriptor) ([]kafkax.TopicSpec, map[string][]string, error) {
	specs := make(map[string]kafkax.TopicSpec)
	by := make(map[string][]string)
	var problems []string
	for _, md := range events {
		opts := schemaload.EventOptions(md)
		if opts == nil {
			continue
		}
		s := Spec(opts)
		have, ok := specs[s.Name]
		by[s.Name] = append(by[s.Name], string(md.FullName()))
		if !ok {
			specs[s.Name] = s
			continue
		}
		merged, conflicts := merge(have, s)
		for _, c := range conflicts {
			problems = append(problems, fmt.Sprintf("topic %s: %s declares %s, another event on the topic declares otherwise", s.Name, md.FullName(), c))
		}
		specs[s.Name] = merged
	}
	if len(problems) > 0 {
		return nil, nil, errors.New(strings.Join(problems, "; "))
	}
	out := make([]kafkax.TopicSpec, 0, len(specs))
	for _, s := range specs {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, by, nil
}

// Spec returns the topic shape event options declare.
func Spec(opts *optionsv1.EventOptions) kafkax.TopicSpec {
	return kafkax.TopicSpec{
		Name:              opts.GetTopic(),
		Partitions:        opts.GetPartitions(),
		ReplicationFactor: opts.GetReplicationFactor(),
		RetentionMs:       opts.GetRetentionMs(),
		CleanupPolicy:     cleanupPolicy(opts.GetCleanupPolicy()),
	}
}

func cleanupPolicy(p optionsv1.CleanupPolicy) string {
	switch p {
	case optionsv1.CleanupPolicy_CLEANUP_POLICY_DELETE:
		return "delete"
	case optionsv1.CleanupPolicy_CLEANUP_POLICY_COMPACT:
		return "compact"
	case optionsv1.CleanupPolicy_CLEANUP_POLICY_COMPACT_DELETE:
		return "compact,delete"
	}
	return ""
}

// merge combines two declarations of one topic: a setting left at its
// default by one takes the other's; two different settings conflict.
func merge(a, b kafkax.TopicSpec) (kafkax.TopicSpec, []string) {
	var conflicts []string
	pick := func(name string, x, y int64) int64 {
		switch {
		case x == 0:
			return y
		case y != 0 && x != y:
			conflicts = append(conflicts, fmt.Sprintf("%s %d", name, y))
		}
		return x
	}
	a.Partitions = int32(pick("partitions", int64(a.Partitions), int64(b.Partitions)))
	a.ReplicationFactor = int32(pick("replication_factor", int64(a.ReplicationFactor), int64(b.ReplicationFactor)))
	a.RetentionMs = pick("retention_ms", a.RetentionMs, b.RetentionMs)
	switch {
	case a.CleanupPolicy == "":
		a.CleanupPolicy = b.CleanupPolicy
	case b.CleanupPolicy != "" && !samePolicy(a.CleanupPolicy, b.CleanupPolicy):
		conflicts = append(conflicts, "cleanup_policy "+b.CleanupPolicy)
	}
	return a, conflicts
}

// Differences lists how an existing topic differs from the declared
// shape; settings left at the broker's default are not compared.
func Differences(want kafkax.TopicSpec, have kafkax.TopicState) []string {
	var out []string
	if want.Partitions != 0 && want.Partitions != have.Partitions {
		out = append(out, fmt.Sprintf("partitions: declared %d, the topic has %d", want.Partitions, have.Partitions))
	}
	if want.ReplicationFactor != 0 && want.ReplicationFactor != have.ReplicationFactor {
		out = append(out, fmt.Sprintf("replication_factor: declared %d, the topic has %d", want.ReplicationFactor, have.ReplicationFactor))
	}
	if want.RetentionMs != 0 && want.RetentionMs != have.RetentionMs {
		out = append(out, fmt.Sprintf("retention_ms: declared %d, the topic has %d", want.RetentionMs, have.RetentionMs))
	}
	if want.CleanupPolicy != "" && !samePolicy(want.CleanupPolicy, have.CleanupPolicy) {
		out = append(out, fmt.Sprintf("cleanup_policy: declared %q, the topic has %q", want.CleanupPolicy, have.CleanupPolicy))
	}
	return out
}

func samePolicy(a, b string) bool {
	split := func(s string) []string {
		parts := strings.Split(strings.ReplaceAll(s, " ", ""), ",")
		slices.Sort(parts)
		return parts
	}
	return slices.Equal(split(a), split(b))
}

// EnsureTopics creates each missing topic with its declared shape and
// compares each existing one with it, changing nothing that exists. With
// create false it only reports (missing topics as TopicMissing). An error
// says Kafka could not be asked at all.
func EnsureTopics(ctx context.Context, admin TopicAdmin, specs []kafkax.TopicSpec, events map[string][]string, create bool) ([]Topic, error) {
	out := make([]Topic, 0, len(specs))
	for _, spec := range specs {
		t := Topic{Topic: spec.Name, Events: events[spec.Name]}
		state, found, err := admin.DescribeTopic(ctx, spec.Name)
		if err != nil {
			return out, err
		}
		switch {
		case found:
			t.Status = TopicExists
		case !create:
			t.Status = TopicMissing
		default:
			err := admin.CreateTopic(ctx, spec)
			switch {
			case err == nil:
				t.Status = TopicCreated
			case errors.Is(err, kafkax.ErrTopicExists):
				// Created meanwhile by someone else: compare below.
				if state, found, err = admin.DescribeTopic(ctx, spec.Name); err != nil {
					return out, err
				}
				t.Status = TopicExists
			default:
				t.Status, t.Reasons = TopicRefused, []string{err.Error()}
			}
		}
		if found {
			if diffs := Differences(spec, state); len(diffs) > 0 {
				t.Status, t.Reasons = TopicDiffers, diffs
			}
		}
		out = append(out, t)
	}
	return out, nil
}
