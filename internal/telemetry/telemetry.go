// Package telemetry sets up a process's tracing from the standard
// OpenTelemetry environment variables (OTEL_TRACES_EXPORTER,
// OTEL_EXPORTER_OTLP_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER, …), so that every Cairn role is configured the way
// every other OpenTelemetry program is.
//
// Tracing is off unless OTEL_TRACES_EXPORTER or an OTLP endpoint is set:
// the provider is then OpenTelemetry's no-op, which the gateway and the
// workers recognise and leave out of their paths altogether.
//
// The environment is the one configuration here that is not read in
// package main: the OpenTelemetry SDK and its exporters read their own
// variables, and this package reads the rest beside them, and checks them
// all first, so that a mistake is refused at start rather than logged and
// ignored by the SDK.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Options are what the environment does not say.
type Options struct {
	// ServiceName is the service.name resource attribute unless
	// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES sets one.
	ServiceName string
	// ServiceVersion, when set, is the service.version resource attribute
	// unless OTEL_RESOURCE_ATTRIBUTES sets one.
	ServiceVersion string
	// Console receives the spans of the console exporter, one JSON object
	// each; nil means os.Stdout.
	Console io.Writer
}

// Tracing is a process's tracing: the provider its components take, and
// what to flush on the way out.
type Tracing struct {
	// Provider makes the process's spans: an SDK provider exporting them,
	// or OpenTelemetry's no-op provider when tracing is off. It is safe for
	// concurrent use.
	Provider trace.TracerProvider
	// Exporters names where spans go: "otlp (grpc)", "otlp (http/protobuf)",
	// "console". Empty when tracing is off.
	Exporters []string

	sdk *sdktrace.TracerProvider
}

// Enabled reports whether spans are made and exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// Shutdown exports the spans still buffered and stops the exporters,
// within ctx. It does nothing when tracing is off, and may be called more
// than once.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	if err := t.sdk.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: flush spans: %w", err)
	}
	return nil
}

// MakesSpans reports whether tp makes spans, so that a component can
// leave tracing out of its path altogether when it does not. It starts
// one span, under a remote parent that is not sampled: OpenTelemetry's
// no-op provider (the global one until an SDK is installed) hands that
// parent back as the span, where an SDK gives the span an identity of its
// own, and the SDK's default, parent-based samplers drop it, so that it is
// not exported.
func MakesSpans(tp trace.TracerProvider) bool {
	parent := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0xca, 0x19, 0x0e},
		SpanID:  trace.SpanID{0xca, 0x19, 0x0e},
		Remote:  true,
	})
	ctx := trace.ContextWithRemoteSpanContext(context.Background(), parent)
	_, span := tp.Tracer("github.com/cairnhq/cairn/internal/telemetry").Start(ctx, "probe")
	defer span.End()
	sc := span.SpanContext()
	return span.IsRecording() || (sc.IsValid() && sc.SpanID() != parent.SpanID())
}

// The exporters OTEL_TRACES_EXPORTER may name.
const (
	exporterOTLP    = "otlp"
	exporterConsole = "console"
	exporterNone    = "none"
)

// The OTLP protocols.
const (
	protocolGRPC = "grpc"
	protocolHTTP = "http/protobuf"
)

// config is what the environment says.
type config struct {
	exporters []string // otlp, console; empty when off
	protocol  string   // the OTLP protocol, when otlp
}

// New builds the process's tracing from the environment. Tracing is off,
// at no cost, when OTEL_SDK_DISABLED is true, when OTEL_TRACES_EXPORTER is
// "none", or when neither OTEL_TRACES_EXPORTER nor an OTLP endpoint
// (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set.
// A value that is malformed or not supported is an error naming the
// variable.
//
// New makes no connection: an OTLP collector that is down shows up later,
// as failed exports reported to OpenTelemetry's error handler.
func New(ctx context.Context, opts Options) (*Tracing, error) {
	cfg, err := parseEnv(os.LookupEnv)
	if err != nil {
		return nil, err
	}
	if len(cfg.exporters) == 0 {
		return &Tracing{Provider: noop.NewTracerProvider()}, nil
	}
	res, err := newResource(ctx, opts)
	if err != nil {
		return nil, err
	}
	t := &Tracing{}
	popts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	var made []sdktrace.SpanExporter
	for _, name := range cfg.exporters {
		var exp sdktrace.SpanExporter
		switch name {
		case exporterOTLP:
			if cfg.protocol == protocolGRPC {
				exp, err = otlptracegrpc.New(ctx)
			} else {
				exp, err = otlptracehttp.New(ctx)
			}
			name += " (" + cfg.protocol + ")"
		case exporterConsole:
			w := opts.Console
			if w == nil {
				w = os.Stdout
			}
			exp, err = stdouttrace.New(stdouttrace.WithWriter(w))
		}
		if err != nil {
			for _, e := range made {
				_ = e.Shutdown(ctx)
			}
			return nil, fmt.Errorf("tracing: %s exporter: %w", name, err)
		}
		made = append(made, exp)
		// The batcher reads OTEL_BSP_* itself.
		popts = append(popts, sdktrace.WithBatcher(exp))
		t.Exporters = append(t.Exporters, name)
	}
	// The provider reads OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
	// itself; parseEnv has checked them.
	t.sdk = sdktrace.NewTracerProvider(popts...)
	t.Provider = t.sdk
	return t, nil
}

// newResource describes the process: the defaults in opts, overridden by
// OTEL_RESOURCE_ATTRIBUTES and OTEL_SERVICE_NAME.
func newResource(ctx context.Context, opts Options) (*resource.Resource, error) {
	var attrs []attribute.KeyValue
	if opts.ServiceName != "" {
		attrs = append(attrs, attribute.String("service.name", opts.ServiceName))
	}
	if opts.ServiceVersion != "" {
		attrs = append(attrs, attribute.String("service.version", opts.ServiceVersion))
	}
	res, err := resource.New(ctx,
		resource.WithTelemetrySDK(),
		resource.WithAttributes(attrs...),
		resource.WithFromEnv(), // last: the environment wins
	)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES or OTEL_SERVICE_NAME: %w", err)
	}
	return res, nil
}

// parseEnv reads and checks the variables, through lookup.
func parseEnv(lookup func(string) (string, bool)) (config, error) {
	get := func(name string) string {
		v, _ := lookup(name)
		return strings.TrimSpace(v)
	}
	var cfg config
	var errs []error
	if strings.EqualFold(get("OTEL_SDK_DISABLED"), "true") {
		return cfg, nil
	}
	endpoint := get("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
	switch list := get("OTEL_TRACES_EXPORTER"); {
	case list == "" && endpoint:
		cfg.exporters = []string{exporterOTLP}
	case list != "":
		exps, err := parseExporters(list)
		if err != nil {
			errs = append(errs, err)
		}
		cfg.exporters = exps
	}
	if len(cfg.exporters) == 0 && len(errs) == 0 {
		return cfg, nil
	}
	if err := checkSampler(get("OTEL_TRACES_SAMPLER"), get("OTEL_TRACES_SAMPLER_ARG")); err != nil {
		errs = append(errs, err)
	}
	if slices.Contains(cfg.exporters, exporterOTLP) {
		var err error
		if cfg.protocol, err = parseProtocol(get); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, checkOTLP(get)...)
	}
	if err := errors.Join(errs...); err != nil {
		return config{}, fmt.Errorf("tracing: %w", err)
	}
	return cfg, nil
}

// parseExporters parses OTEL_TRACES_EXPORTER: a list of exporters
// separated by commas, or none.
func parseExporters(list string) ([]string, error) {
	var out []string
	none := false
	for _, e := range strings.Split(list, ",") {
		switch e = strings.ToLower(strings.TrimSpace(e)); e {
		case exporterOTLP, exporterConsole:
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		case exporterNone:
			none = true
		default:
			return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: %q is not supported: want otlp, console or none (or a list of otlp and console)", list, e)
		}
	}
	if none && len(out) > 0 {
		return nil, fmt.Errorf("OTEL_TRACES_EXPORTER=%q: none goes alone", list)
	}
	return out, nil
}

// parseProtocol reads the OTLP protocol: OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
// else OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf, the specification's
// default.
func parseProtocol(get func(string) string) (string, error) {
	name := "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
	p := get(name)
	if p == "" {
		name = "OTEL_EXPORTER_OTLP_PROTOCOL"
		p = get(name)
	}
	switch p {
	case "":
		return protocolHTTP, nil
	case protocolGRPC, protocolHTTP:
		return p, nil
	case "http/json":
		return "", fmt.Errorf("%s=%q: the Go OTLP exporter does not speak http/json: want grpc or http/protobuf", name, p)
	}
	return "", fmt.Errorf("%s=%q: want grpc or http/protobuf", name, p)
}

// checkOTLP checks the OTLP exporter's variables that it would otherwise
// ignore, with a log line at most, when malformed.
func checkOTLP(get func(string) string) []error {
	var errs []error
	for _, signal := range []string{"", "TRACES_"} {
		prefix := "OTEL_EXPORTER_OTLP_" + signal
		if v := get(prefix + "ENDPOINT"); v != "" {
			if err := checkEndpoint(v); err != nil {
				errs = append(errs, fmt.Errorf("%sENDPOINT=%q: %w", prefix, v, err))
			}
		}
		if v := get(prefix + "TIMEOUT"); v != "" {
			if ms, err := strconv.Atoi(v); err != nil || ms < 0 {
				errs = append(errs, fmt.Errorf("%sTIMEOUT=%q: want milliseconds, a whole number", prefix, v))
			}
		}
		if v := get(prefix + "COMPRESSION"); v != "" && v != "gzip" && v != "none" {
			errs = append(errs, fmt.Errorf("%sCOMPRESSION=%q: want gzip or none", prefix, v))
		}
		if v := get(prefix + "INSECURE"); v != "" {
			if _, err := strconv.ParseBool(v); err != nil {
				errs = append(errs, fmt.Errorf("%sINSECURE=%q: want true or false", prefix, v))
			}
		}
	}
	return errs
}

// checkEndpoint checks an OTLP endpoint is a URL the exporters can use:
// http or https, with a host.
func checkEndpoint(v string) error {
	u, err := url.Parse(v)
	if err != nil {
		return fmt.Errorf("not a URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("want a URL with scheme http or https, such as http://localhost:4318")
	}
	if u.Host == "" {
		return errors.New("the URL has no host")
	}
	return nil
}

// checkSampler checks OTEL_TRACES_SAMPLER and its argument as the SDK
// reads them. The SDK would log a bad value and sample everything.
func checkSampler(sampler, arg string) error {
	switch strings.ToLower(sampler) {
	case "", "always_on", "always_off", "parentbased_always_on", "parentbased_always_off":
		return nil
	case "traceidratio", "parentbased_traceidratio":
		if arg == "" {
			return nil
		}
		r, err := strconv.ParseFloat(arg, 64)
		if err != nil || !(r >= 0 && r <= 1) {
			return fmt.Errorf("OTEL_TRACES_SAMPLER_ARG=%q: want a ratio from 0 to 1 for %s", arg, sampler)
		}
		return nil
	}
	return fmt.Errorf("OTEL_TRACES_SAMPLER=%q: want always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio", sampler)
}
