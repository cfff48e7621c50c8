package admin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/internal/buildinfo"
)

// NewRegistry returns a metrics registry holding the process's own
// metrics (Go runtime, process) and cairn_build_info{version,revision,
// go_version}, a gauge of 1 naming the build. Every role starts from it.
func NewRegistry(info buildinfo.Info) *prometheus.Registry {
	r := prometheus.NewRegistry()
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cairn_build_info",
		Help: "A constant 1 whose labels name the build: version, VCS revision and Go version.",
	}, []string{"version", "revision", "go_version"})
	build.WithLabelValues(info.Version, info.RevisionLabel(), info.GoVersion).Set(1)
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), build)
	return r
}

// GRPCMetrics counts the calls of gRPC services by service, method and
// status code, and times them. It is safe for concurrent use.
type GRPCMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	known    map[string]methodSeries // by full method name; written only by NewGRPCMetrics
}

// NewGRPCMetrics registers cairn_grpc_server_requests_total and
// cairn_grpc_server_request_duration_seconds with reg, or reuses those a
// server in the same process registered before, and creates the series of
// every method of services with code OK so they exist before the first
// call.
func NewGRPCMetrics(reg prometheus.Registerer, services ...*grpc.ServiceDesc) (*GRPCMetrics, error) {
	m := &GRPCMetrics{
		known: make(map[string]methodSeries),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_grpc_server_requests_total",
			Help: "gRPC calls served, by service, method and status code.",
		}, []string{"service", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_grpc_server_request_duration_seconds",
			Help:    "Time to serve a gRPC call (a stream: its whole life), by service and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"service", "method"}),
	}
	if err := registerOrReuse(reg, &m.requests); err != nil {
		return nil, fmt.Errorf("admin: gRPC metrics: %w", err)
	}
	if err := registerOrReuse(reg, &m.duration); err != nil {
		return nil, fmt.Errorf("admin: gRPC metrics: %w", err)
	}
	for _, sd := range services {
		for _, md := range sd.Methods {
			m.init(sd.ServiceName, md.MethodName)
		}
		for _, st := range sd.Streams {
			m.init(sd.ServiceName, st.StreamName)
		}
	}
	return m, nil
}

func (m *GRPCMetrics) init(service, method string) {
	m.known["/"+service+"/"+method] = methodSeries{
		ok:       m.requests.WithLabelValues(service, method, codes.OK.String()),
		duration: m.duration.WithLabelValues(service, method),
	}
}

// methodSeries are a known method's series, looked up once rather than on
// every call.
type methodSeries struct {
	ok       prometheus.Counter
	duration prometheus.Observer
}

// ServerOptions returns the interceptors that count and time every call;
// they chain after any interceptor the server installs itself.
func (m *GRPCMetrics) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			start := time.Now()
			resp, err := handler(ctx, req)
			m.observe(info.FullMethod, start, err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
			start := time.Now()
			err := handler(srv, ss)
			m.observe(info.FullMethod, start, err)
			return err
		}),
	}
}

func (m *GRPCMetrics) observe(fullMethod string, start time.Time, err error) {
	if series, ok := m.known[fullMethod]; ok {
		if err == nil {
			series.ok.Inc()
		} else {
			service, method := splitMethod(fullMethod)
			m.requests.WithLabelValues(service, method, status.Code(err).String()).Inc()
		}
		series.duration.Observe(time.Since(start).Seconds())
		return
	}
	service, method := splitMethod(fullMethod)
	m.requests.WithLabelValues(service, method, status.Code(err).String()).Inc()
	m.duration.WithLabelValues(service, method).Observe(time.Since(start).Seconds())
}

// splitMethod splits "/pkg.Service/Method" into its service and method.
func splitMethod(full string) (service, method string) {
	full = strings.TrimPrefix(full, "/")
	if i := strings.LastIndexByte(full, '/'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "unknown", full
}

// registerOrReuse registers *c, or replaces it by the collector registered
// before under the same name.
func registerOrReuse[C prometheus.Collector](r prometheus.Registerer, c *C) error {
	err := r.Register(*c)
	if err == nil {
		return nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			*c = existing
			return nil
		}
	}
	return err
}
