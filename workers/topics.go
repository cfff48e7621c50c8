package workers

import (
	"context"
	"fmt"
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Topics returns the topics the registered types named go to, as their
// schemas' event options say, sorted: an app's input topics.
func Topics(ctx context.Context, reg Registry, types ...protoreflect.FullName) ([]string, error) {
	var topics []string
	for _, name := range types {
		t, err := reg.Resolve(ctx, name)
		if err != nil {
			return nil, fmt.Errorf("topics: %w", err)
		}
		if t.Event == nil {
			return nil, fmt.Errorf("topics: %s has no event options", name)
		}
		if !slices.Contains(topics, t.Event.GetTopic()) {
			topics = append(topics, t.Event.GetTopic())
		}
	}
	slices.Sort(topics)
	return topics, nil
}
