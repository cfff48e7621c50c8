package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	collectorpb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/cairnhq/cairn/internal/telemetry"
)

// otelVars are the variables a test starts without, whatever the
// environment running the tests holds.
var otelVars = []string{
	"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG",
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_EXPORTER_OTLP_TIMEOUT", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
	"OTEL_EXPORTER_OTLP_COMPRESSION", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
	"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE",
	"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
}

// setEnv unsets every OTEL_* variable the package reads, then sets vars,
// for the rest of the test.
func setEnv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, k := range otelVars {
		t.Setenv(k, "") // restored when the test ends
		os.Unsetenv(k)
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// spanIn makes one span named name with tr and ends it, returning its
// context.
func spanIn(tp trace.TracerProvider, name string) trace.SpanContext {
	_, span := tp.Tracer("telemetry_test").Start(context.Background(), name)
	defer span.End()
	return span.SpanContext()
}

func TestOff(t *testing.T) {
	for _, tc := range []struct {
		name string
		vars map[string]string
	}{
		{"unset", nil},
		{"exporter none", map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"}},
		{"sdk disabled", map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "console"}},
		{"service name alone", map[string]string{"OTEL_SERVICE_NAME": "svc", "OTEL_TRACES_SAMPLER": "always_on"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.vars)
			tr, err := telemetry.New(t.Context(), telemetry.Options{ServiceName: "cairn-test"})
			if err != nil {
				t.Fatal(err)
			}
			if tr.Enabled() || len(tr.Exporters) > 0 {
				t.Errorf("tracing on (%v), want off", tr.Exporters)
			}
			// OpenTelemetry's no-op: no span records or has an identity,
			// which is how the gateway and the workers know to do nothing.
			_, span := tr.Provider.Tracer("t").Start(t.Context(), "probe")
			if span.IsRecording() || span.SpanContext().IsValid() {
				t.Error("the provider makes spans, want OpenTelemetry's no-op")
			}
			span.End()
			if err := tr.Shutdown(t.Context()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
}

// consoleSpan is what the console exporter writes of a span.
type consoleSpan struct {
	Name        string
	SpanContext struct{ TraceID string }
	Resource    []struct {
		Key   string
		Value struct{ Value any }
	}
}

func (s consoleSpan) resource(key string) any {
	for _, kv := range s.Resource {
		if kv.Key == key {
			return kv.Value.Value
		}
	}
	return nil
}

func readConsole(t *testing.T, r io.Reader) []consoleSpan {
	t.Helper()
	var out []consoleSpan
	dec := json.NewDecoder(r)
	for {
		var s consoleSpan
		if err := dec.Decode(&s); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatalf("console output: %v", err)
		}
		out = append(out, s)
	}
}

func TestConsole(t *testing.T) {
	for _, tc := range []struct {
		name        string
		vars        map[string]string
		wantService string
		wantVersion any
	}{
		{"defaults", map[string]string{"OTEL_TRACES_EXPORTER": "console"}, "cairn-test", "v1.2.3"},
		{"service name from the environment", map[string]string{
			"OTEL_TRACES_EXPORTER": " Console ", "OTEL_SERVICE_NAME": "edge-7",
			"OTEL_RESOURCE_ATTRIBUTES": "service.name=ignored,service.version=v9,deployment.environment=test",
		}, "edge-7", "v9"},
		{"service name from the resource attributes", map[string]string{
			"OTEL_TRACES_EXPORTER": "console", "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs",
		}, "from-attrs", "v1.2.3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			setEnv(t, tc.vars)
			var buf bytes.Buffer
			tr, err := telemetry.New(t.Context(), telemetry.Options{ServiceName: "cairn-test", ServiceVersion: "v1.2.3", Console: &buf})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(tr.Exporters, ","); got != "console" {
				t.Errorf("Exporters = %q, want console", got)
			}
			sc := spanIn(tr.Provider, "hello")
			if err := tr.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			spans := readConsole(t, &buf)
			if len(spans) != 1 {
				t.Fatalf("console shows %d spans, want 1:\n%s", len(spans), buf.String())
			}
			s := spans[0]
			if s.Name != "hello" || s.SpanContext.TraceID != sc.TraceID().String() {
				t.Errorf("span %q in trace %s, want hello in %s", s.Name, s.SpanContext.TraceID, sc.TraceID())
			}
			if got := s.resource("service.name"); got != tc.wantService {
				t.Errorf("service.name = %v, want %s", got, tc.wantService)
			}
			if got := s.resource("service.version"); got != tc.wantVersion {
				t.Errorf("service.version = %v, want %v", got, tc.wantVersion)
			}
		})
	}
}

// TestSamplerFromEnvironment checks the SDK honours OTEL_TRACES_SAMPLER: a
// span of a trace that is not sampled has an identity but is neither
// recorded nor exported.
func TestSamplerFromEnvironment(t *testing.T) {
	for _, tc := range []struct {
		sampler, arg string
		sampled      bool
	}{
		{"always_off", "", false},
		{"traceidratio", "0", false},
		{"parentbased_traceidratio", "1", true},
		{"always_on", "", true},
	} {
		t.Run(tc.sampler+tc.arg, func(t *testing.T) {
			setEnv(t, map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": tc.sampler, "OTEL_TRACES_SAMPLER_ARG": tc.arg})
			var buf bytes.Buffer
			tr, err := telemetry.New(t.Context(), telemetry.Options{Console: &buf})
			if err != nil {
				t.Fatal(err)
			}
			sc := spanIn(tr.Provider, "maybe")
			if err := tr.Shutdown(t.Context()); err != nil {
				t.Fatal(err)
			}
			if !sc.IsValid() || sc.IsSampled() != tc.sampled {
				t.Errorf("span context valid %v sampled %v, want valid and sampled %v", sc.IsValid(), sc.IsSampled(), tc.sampled)
			}
			if n := len(readConsole(t, &buf)); (n == 1) != tc.sampled {
				t.Errorf("%d spans exported, sampled %v", n, tc.sampled)
			}
		})
	}
}

// receiver collects the OTLP export requests a collector would receive.
type receiver struct {
	collectorpb.UnimplementedTraceServiceServer

	mu   sync.Mutex
	reqs []*collectorpb.ExportTraceServiceRequest
	info []string // how each came: path and content type, or "grpc"
}

func (r *receiver) add(req *collectorpb.ExportTraceServiceRequest, how string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	r.info = append(r.info, how)
}

func (r *receiver) Export(_ context.Context, req *collectorpb.ExportTraceServiceRequest) (*collectorpb.ExportTraceServiceResponse, error) {
	r.add(req, "grpc")
	return &collectorpb.ExportTraceServiceResponse{}, nil
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var m collectorpb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	r.add(&m, req.Method+" "+req.URL.Path+" "+req.Header.Get("Content-Type"))
	b, _ := proto.Marshal(&collectorpb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// check checks the receiver got exactly one request holding one span,
// sent as how, from service in trace sc.
func (r *receiver) check(t *testing.T, how, service, name string, sc trace.SpanContext) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.reqs) != 1 {
		t.Fatalf("the collector received %d export requests, want 1", len(r.reqs))
	}
	if r.info[0] != how {
		t.Errorf("request came as %q, want %q", r.info[0], how)
	}
	rs := r.reqs[0].GetResourceSpans()
	if len(rs) != 1 || len(rs[0].GetScopeSpans()) != 1 || len(rs[0].GetScopeSpans()[0].GetSpans()) != 1 {
		t.Fatalf("export request: %v, want one span", r.reqs[0])
	}
	var gotService string
	for _, kv := range rs[0].GetResource().GetAttributes() {
		if kv.GetKey() == "service.name" {
			gotService = kv.GetValue().GetStringValue()
		}
	}
	if gotService != service {
		t.Errorf("service.name = %q, want %q", gotService, service)
	}
	span := rs[0].GetScopeSpans()[0].GetSpans()[0]
	if span.GetName() != name || trace.TraceID(span.GetTraceId()) != sc.TraceID() || trace.SpanID(span.GetSpanId()) != sc.SpanID() {
		t.Errorf("exported span %q %x/%x, want %q %s/%s", span.GetName(), span.GetTraceId(), span.GetSpanId(), name, sc.TraceID(), sc.SpanID())
	}
}

func TestOTLPHTTP(t *testing.T) {
	for _, tc := range []struct {
		name     string
		vars     func(url string) map[string]string
		wantPath string
	}{
		{"endpoint alone", func(u string) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": u}
		}, "/v1/traces"},
		{"traces endpoint as is", func(u string) map[string]string {
			return map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": u + "/collect/spans"}
		}, "/collect/spans"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rcv := &receiver{}
			srv := httptest.NewServer(rcv)
			defer srv.Close()
			setEnv(t, tc.vars(srv.URL))
			t.Setenv("OTEL_SERVICE_NAME", "http-test")
			tr, err := telemetry.New(t.Context(), telemetry.Options{ServiceName: "cairn-test"})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(tr.Exporters, ","); got != "otlp (http/protobuf)" {
				t.Errorf("Exporters = %q", got)
			}
			sc := spanIn(tr.Provider, "over-http")
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := tr.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			rcv.check(t, "POST "+tc.wantPath+" application/x-protobuf", "http-test", "over-http", sc)
		})
	}
}

func TestOTLPGRPC(t *testing.T) {
	rcv := &receiver{}
	srv := grpc.NewServer()
	collectorpb.RegisterTraceServiceServer(srv, rcv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	defer func() {
		srv.Stop()
		<-served
	}()
	setEnv(t, map[string]string{
		"OTEL_TRACES_EXPORTER":        "otlp,console",
		"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
		"OTEL_EXPORTER_OTLP_ENDPOINT": "http://" + lis.Addr().String(),
	})
	var buf bytes.Buffer
	tr, err := telemetry.New(t.Context(), telemetry.Options{ServiceName: "cairn-grpc", Console: &buf})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tr.Exporters, ","); got != "otlp (grpc),console" {
		t.Errorf("Exporters = %q", got)
	}
	sc := spanIn(tr.Provider, "over-grpc")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := tr.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	rcv.check(t, "grpc", "cairn-grpc", "over-grpc", sc)
	if n := len(readConsole(t, &buf)); n != 1 {
		t.Errorf("console shows %d spans, want 1", n)
	}
}

func TestInvalid(t *testing.T) {
	for _, tc := range []struct {
		vars map[string]string
		want string // in the error
	}{
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, `OTEL_TRACES_EXPORTER="zipkin"`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp,none"}, "none goes alone"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "does not speak http/json"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "udp"}, `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL="udp"`},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "localhost:4317"}, `OTEL_EXPORTER_OTLP_ENDPOINT="localhost:4317": want a URL with scheme http or https`},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=\"http://\": the URL has no host"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "zstd"}, "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://h:4318", "OTEL_EXPORTER_OTLP_INSECURE": "maybe"}, "OTEL_EXPORTER_OTLP_INSECURE"},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "sometimes"}, `OTEL_TRACES_SAMPLER="sometimes"`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "jaeger_remote"}, `OTEL_TRACES_SAMPLER="jaeger_remote"`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}, `OTEL_TRACES_SAMPLER_ARG="1.5"`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}, `OTEL_TRACES_SAMPLER_ARG="half"`},
		{map[string]string{"OTEL_TRACES_EXPORTER": "console", "OTEL_RESOURCE_ATTRIBUTES": "team"}, "OTEL_RESOURCE_ATTRIBUTES"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			setEnv(t, tc.vars)
			tr, err := telemetry.New(t.Context(), telemetry.Options{ServiceName: "cairn-test"})
			if err == nil {
				_ = tr.Shutdown(t.Context())
				t.Fatalf("New with %v: no error, want one saying %s", tc.vars, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New with %v: %v, want it to say %s", tc.vars, err, tc.want)
			}
		})
	}
}

// TestMakesSpans tells OpenTelemetry's no-op providers from an SDK's,
// without exporting the probe.
func TestMakesSpans(t *testing.T) {
	if telemetry.MakesSpans(noop.NewTracerProvider()) {
		t.Error("the no-op provider makes spans, says MakesSpans")
	}
	if telemetry.MakesSpans(otel.GetTracerProvider()) {
		t.Error("the global provider, with no SDK installed, makes spans, says MakesSpans")
	}
	spans := tracetest.NewInMemoryExporter()
	for _, sampler := range []sdktrace.Sampler{nil, sdktrace.ParentBased(sdktrace.NeverSample())} {
		opts := []sdktrace.TracerProviderOption{sdktrace.WithSyncer(spans)}
		if sampler != nil {
			opts = append(opts, sdktrace.WithSampler(sampler))
		}
		tp := sdktrace.NewTracerProvider(opts...)
		if !telemetry.MakesSpans(tp) {
			t.Errorf("an SDK provider (sampler %v) makes no spans, says MakesSpans", sampler)
		}
		if got := spans.GetSpans(); len(got) > 0 {
			t.Errorf("the probe was exported: %v", got)
		}
		_ = tp.Shutdown(t.Context())
	}
}
