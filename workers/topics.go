package workers

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// inputTypes are the events the hunt engine applies.
var inputTypes = []protoreflect.FullName{
	"cairn.hunt.v1.PlayerRegistered",
	"cairn.hunt.v1.HuntCreated",
	"cairn.hunt.v1.PlayerJoinedHunt",
	"cairn.hunt.v1.AnswerSubmitted",
}

// InputTopics returns the topics the hunt engine consumes, as the input
// events' registered schemas name them, sorted.
func InputTopics(ctx context.Context, reg Registry) ([]string, error) {
	var topics []string
	for _, name := range inputTypes {
		t, err := reg.Resolve(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("input topics: %w", err)
		}
		if t.Event == nil {
			return nil, fmt.Errorf("input topics: %s has no event options", name)
		}
		if !slices.Contains(topics, t.Event.GetTopic()) {
			topics = append(topics, t.Event.GetTopic())
		}
	}
	slices.Sort(topics)
	return topics, nil
}
