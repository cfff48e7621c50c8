package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/cairnhq/cairn/internal/buildinfo"
	"github.com/cairnhq/cairn/internal/telemetry"
)

// tracingFlushTimeout bounds how long a role waits, on the way out, for
// its last spans to be exported.
const tracingFlushTimeout = 5 * time.Second

// startTracing sets up the process's tracing for a role from the standard
// OTEL_* variables (see the README) and installs it as OpenTelemetry's
// global provider, which the gateway and the workers take when their
// configuration names none. The service is "cairn-ROLE" unless
// OTEL_SERVICE_NAME says otherwise. It returns what flushes the spans;
// call it last. With tracing off it does nothing, and neither does stop.
func startTracing(ctx context.Context, role string, console io.Writer, log *slog.Logger) (stop func(), err error) {
	bi := buildinfo.Read()
	version := bi.Version
	if version == "devel" && bi.Revision != "unknown" {
		version += "+" + bi.RevisionLabel()
	}
	t, err := telemetry.New(ctx, telemetry.Options{ServiceName: "cairn-" + role, ServiceVersion: version, Console: console})
	if err != nil {
		return nil, err
	}
	if !t.Enabled() {
		return func() {}, nil
	}
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing", "error", err)
	}))
	otel.SetTracerProvider(t.Provider)
	log.Info("tracing on", "exporters", t.Exporters)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), tracingFlushTimeout)
		defer cancel()
		if err := t.Shutdown(ctx); err != nil {
			log.Warn("tracing: spans not exported", "error", err)
		}
		// The process traces no more: what runs after the role (a test's
		// next command) starts from OpenTelemetry's defaults again.
		otel.SetTracerProvider(noop.NewTracerProvider())
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			slog.Warn("tracing", "error", err)
		}))
	}, nil
}
