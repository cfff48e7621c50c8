package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnhq/cairn/internal/console"
	"github.com/cairnhq/cairn/internal/inspect"
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
	v := &console.Version{Subject: sv.Subject, Version: sv.Version, ID: int(sv.Schema.ID), Type: sv.Schema.Type, Text: sv.Schema.Text}
	if v.Type == "" {
		v.Type = regclient.TypeProtobuf
	}
	for _, ref := range sv.Schema.References {
		v.References = append(v.References, fmt.Sprintf("%s → %s v%d", ref.Name, ref.Subject, ref.Version))
	}
	return v, nil
}

func notFound(err error) error {
	if regclient.IsNotFound(err) {
		return fmt.Errorf("%w: %w", console.ErrNotFound, err)
	}
	return err
}

// devConsole is cairn dev's console: every part of the pipeline runs in
// the process.
type devConsoleConfig struct {
	registry    *registry.Registry
	types       *regclient.Client
	brokers     string
	group       string
	inputs      []string
	deadLetters string
	producer    inspect.Producer
	metrics     prometheus.Gatherer
	checks      map[string]func(context.Context) error
	log         *slog.Logger
}

// newDevConsole builds the console and the cluster it reads (closed by
// close).
func newDevConsole(cfg devConsoleConfig) (*console.Console, func(), error) {
	cluster := inspect.NewCluster(inspect.ClusterOptions{
		Brokers:         cfg.brokers,
		Decoder:         inspect.NewDecoder(resolver{cfg.types}),
		DeadLetterTopic: cfg.deadLetters,
		Producer:        cfg.producer,
	})
	names := []string{"gateway", "worker", "registry", "kafka"}
	c, err := console.New(console.Config{
		Title: "cairn dev",
		Health: func(ctx context.Context) []console.Check {
			out := make([]console.Check, 0, len(names))
			for _, n := range names {
				f, ok := cfg.checks[n]
				if !ok {
					continue
				}
				ch := console.Check{Name: n, Ready: true}
				if err := f(ctx); err != nil {
					ch.Ready, ch.Reason = false, err.Error()
				}
				out = append(out, ch)
			}
			return out
		},
		Metrics:   cfg.metrics,
		Cluster:   cluster,
		LagGroup:  cfg.group,
		LagTopics: cfg.inputs,
		Registry:  registrySource{cfg.registry},
		Logger:    cfg.log,
	})
	if err != nil {
		cluster.Close()
		return nil, nil, fmt.Errorf("console: %w", err)
	}
	return c, func() {
		if err := cluster.Close(); err != nil && !errors.Is(err, context.Canceled) {
			cfg.log.Warn("console: close", "error", err)
		}
	}, nil
}
