package main

import (
	"context"
	"log/slog"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/schemaload"
	"github.com/cairnhq/cairn/registry/schemaplan"
	"github.com/cairnhq/cairn/registry"
)

// topicProvisioner creates, for cairn dev, the topic of every event
// registered in its registry, with the shape the event declares (or dev's
// partition count when it declares none), so that a team that pushes a new
// event to cairn dev finds its topic there without --kafka-brokers.
type topicProvisioner struct {
	reg        *registry.Registry
	admin      *kafkax.Admin
	partitions int32
	log        *slog.Logger
	seen       map[string]int // subject -> latest version provisioned
}

// run provisions every interval until ctx ends.
func (p *topicProvisioner) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		p.once(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// once provisions the topics of the subjects registered or changed since
// the last call.
func (p *topicProvisioner) once(ctx context.Context) {
	var events []protoreflect.MessageDescriptor
	versions := make(map[string]int)
	for _, subject := range p.reg.Subjects(ctx, "", false) {
		sv, err := p.reg.Version(ctx, subject, -1, false)
		if err != nil || p.seen[subject] == sv.Version {
			continue
		}
		versions[subject] = sv.Version
		msgs := sv.Schema.File.Messages()
		for i := range msgs.Len() {
			if string(msgs.Get(i).FullName()) == subject && schemaload.EventOptions(msgs.Get(i)) != nil {
				events = append(events, msgs.Get(i))
			}
		}
	}
	if len(versions) == 0 {
		return
	}
	specs, by, err := schemaplan.TopicSpecs(events)
	if err != nil {
		p.log.Warn("event topics declare different shapes", "error", err)
		return
	}
	for i := range specs {
		if specs[i].Partitions == 0 {
			specs[i].Partitions = p.partitions
		}
	}
	topics, err := schemaplan.EnsureTopics(ctx, p.admin, specs, by, true)
	if err != nil {
		p.log.Warn("topics of registered events", "error", err)
		return
	}
	for _, t := range topics {
		switch t.Status {
		case schemaplan.TopicCreated:
			p.log.Info("topic created from its events' options", "topic", t.Topic, "events", t.Events)
		case schemaplan.TopicDiffers, schemaplan.TopicRefused:
			p.log.Warn("topic is not as its events declare", "topic", t.Topic, "status", t.Status, "reasons", t.Reasons)
		}
	}
	for subject, v := range versions {
		p.seen[subject] = v
	}
}

// startTopicProvisioner provisions the topics of reg's events on the broker
// at brokers, four times a second, until stop is called; stop waits for it.
func startTopicProvisioner(reg *registry.Registry, brokers string, partitions int32, log *slog.Logger) (stop func(), err error) {
	admin, err := kafkax.NewAdmin(brokers)
	if err != nil {
		return nil, err
	}
	p := &topicProvisioner{reg: reg, admin: admin, partitions: partitions, log: log, seen: make(map[string]int)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.run(ctx, 250*time.Millisecond)
	}()
	return func() {
		cancel()
		<-done
		admin.Close()
	}, nil
}
