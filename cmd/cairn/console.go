package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/internal/console"
	"github.com/cairnhq/cairn/internal/inspect"
	registryv1 "github.com/cairnhq/cairn/proto/cairn/registry/v1"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
)

// registrySource shows an in-process registry in the console.
type registrySource struct{ r *registry.Registry }

func (s registrySource) Subjects(ctx context.Context) ([]string, error) {
	return s.r.Subjects(ctx, "", false), nil
}

func (s registrySource) Subject(ctx context.Context, subject string) (*console.Subject, error) {
	vs, err := s.r.Versions(ctx, subject, false)
	if err != nil {
		return nil, notFound(err)
	}
	if len(vs) == 0 {
		return nil, fmt.Errorf("subject %q has no live version: %w", subject, console.ErrNotFound)
	}
	level, err := s.r.Compatibility(ctx, subject, true)
	if err != nil {
		return nil, notFound(err)
	}
	return &console.Subject{Name: subject, Versions: vs, Compatibility: level}, nil
}

func (s registrySource) Version(ctx context.Context, subject string, version int) (*console.Version, error) {
	sv, err := s.r.Version(ctx, subject, version, false)
	if err != nil {
		return nil, notFound(err)
	}
	return consoleVersion(sv), nil
}

// consoleVersion is a registered version as the console shows it.
func consoleVersion(sv *regclient.SubjectVersion) *console.Version {
	v := &console.Version{Subject: sv.Subject, Version: sv.Version, ID: int(sv.Schema.ID), Type: sv.Schema.Type, Text: sv.Schema.Text}
	if v.Type == "" {
		v.Type = regclient.TypeProtobuf
	}
	for _, ref := range sv.Schema.References {
		v.References = append(v.References, fmt.Sprintf("%s → %s v%d", ref.Name, ref.Subject, ref.Version))
	}
	return v
}

func notFound(err error) error {
	if regclient.IsNotFound(err) {
		return fmt.Errorf("%w: %w", console.ErrNotFound, err)
	}
	return err
}

// remoteRegistrySource shows a registry the role reaches over its gRPC
// API in the console. That API does not serve compatibility levels; the
// page says where to read them.
type remoteRegistrySource struct {
	api    registryv1.RegistryServiceClient
	remote *regclient.Remote
}

func (s remoteRegistrySource) Subjects(ctx context.Context) ([]string, error) {
	resp, err := s.api.ListSubjects(ctx, &registryv1.ListSubjectsRequest{})
	if err != nil {
		return nil, fmt.Errorf("list subjects: %w", err)
	}
	return resp.GetSubjects(), nil
}

func (s remoteRegistrySource) Subject(ctx context.Context, subject string) (*console.Subject, error) {
	resp, err := s.api.ListVersions(ctx, &registryv1.ListVersionsRequest{Subject: subject})
	if status.Code(err) == codes.NotFound || status.Code(err) == codes.InvalidArgument {
		return nil, fmt.Errorf("subject %q: %w", subject, console.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("list versions of %q: %w", subject, err)
	}
	if len(resp.GetVersions()) == 0 {
		return nil, fmt.Errorf("subject %q has no live version: %w", subject, console.ErrNotFound)
	}
	vs := make([]int, len(resp.GetVersions()))
	for i, v := range resp.GetVersions() {
		vs[i] = int(v)
	}
	return &console.Subject{Name: subject, Versions: vs, Compatibility: "see the registry's console (GET /config/SUBJECT on its REST API)"}, nil
}

func (s remoteRegistrySource) Version(ctx context.Context, subject string, version int) (*console.Version, error) {
	sv, err := s.remote.Version(ctx, subject, version, false)
	if err != nil {
		return nil, notFound(err)
	}
	return consoleVersion(sv), nil
}

// namedCheck is one component's readiness, as the console's overview
// shows it.
type namedCheck struct {
	name  string
	check func(context.Context) error
}

// consoleConfig says what a role's console shows: what the role knows.
// A nil registry hides the schemas; empty brokers hide Kafka (lag, dead
// letters, tail); an empty group hides the lag. Those pages then say the
// process does not read them.
type consoleConfig struct {
	title       string
	registry    console.Registry
	types       *regclient.Client // decodes records; required with brokers
	brokers     string
	group       string
	inputs      []string
	deadLetters string
	producer    inspect.Producer // replays dead letters; nil refuses replays
	metrics     prometheus.Gatherer
	checks      []namedCheck
	log         *slog.Logger
}

// roleConsole is a role's console and the Kafka reader behind it.
type roleConsole struct {
	*console.Console
	cluster *inspect.Cluster
	log     *slog.Logger
}

// newConsole builds a role's console; close releases the Kafka reader.
func newConsole(cfg consoleConfig) (*roleConsole, error) {
	rc := &roleConsole{log: cfg.log}
	ccfg := console.Config{
		Title: cfg.title,
		Health: func(ctx context.Context) []console.Check {
			out := make([]console.Check, len(cfg.checks))
			var wg sync.WaitGroup
			for i, c := range cfg.checks {
				wg.Go(func() {
					out[i] = console.Check{Name: c.name, Ready: true}
					if err := c.check(ctx); err != nil {
						out[i].Ready, out[i].Reason = false, err.Error()
					}
				})
			}
			wg.Wait()
			return out
		},
		Metrics:   cfg.metrics,
		LagGroup:  cfg.group,
		LagTopics: cfg.inputs,
		Registry:  cfg.registry,
		Logger:    cfg.log,
	}
	if cfg.brokers != "" {
		rc.cluster = inspect.NewCluster(inspect.ClusterOptions{
			Brokers:         cfg.brokers,
			Decoder:         inspect.NewDecoder(resolver{cfg.types}),
			DeadLetterTopic: cfg.deadLetters,
			Producer:        cfg.producer,
		})
		ccfg.Cluster = rc.cluster
	}
	c, err := console.New(ccfg)
	if err != nil {
		rc.close(context.Background())
		return nil, fmt.Errorf("console: %w", err)
	}
	rc.Console = c
	return rc, nil
}

// close closes the console's Kafka reader.
func (c *roleConsole) close(context.Context) error {
	if c.cluster == nil {
		return nil
	}
	if err := c.cluster.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("console: %w", err)
	}
	return nil
}
