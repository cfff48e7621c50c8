// Package admin serves a process's operational HTTP endpoints: Prometheus
// metrics on /metrics, liveness on /healthz, readiness on /readyz, Go's
// profiles on /debug/pprof/ when asked for, and the operator console, when
// given one, on every other path.
package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config configures New.
type Config struct {
	// Registry gathers the metrics /metrics serves; nil means
	// prometheus.DefaultGatherer.
	Registry prometheus.Gatherer
	// Ready reports whether the process can do its work; /readyz answers
	// 503 with its error while it fails. Nil means always ready.
	Ready func(ctx context.Context) error
	// Detail, when set, returns what /readyz adds to its answer, ready or
	// not, one condition a line: what leaves the process able to work but
	// an operator should know, such as an event type the gateway refuses.
	// Empty means nothing to add. It must be quick: it is called on every
	// /readyz.
	Detail func() string
	// ReadyTimeout bounds one call of Ready; zero means 2 seconds.
	ReadyTimeout time.Duration
	// Logger receives readiness failures; nil means slog.Default().
	Logger *slog.Logger
	// Pprof serves the runtime's profiles on /debug/pprof/ (package
	// net/http/pprof). Off by default: profiles reveal the process's
	// internals and a CPU profile costs while it runs.
	Pprof bool
	// Console, when set, serves every path the endpoints above do not.
	Console http.Handler
}

// Server is the admin HTTP server. It is safe for concurrent use.
type Server struct {
	cfg  Config
	http *http.Server
	// stop ends the requests' base context on Shutdown, so that
	// long-lived console streams end instead of holding it up.
	stop context.CancelFunc
}

// New builds an admin server; it does not listen until Serve.
func New(cfg Config) *Server {
	if cfg.Registry == nil {
		cfg.Registry = prometheus.DefaultGatherer
	}
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", s.readyz)
	if cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	if cfg.Console != nil {
		mux.Handle("/", cfg.Console)
	}
	base, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, BaseContext: func(net.Listener) context.Context { return base }}
	return s
}

// Handler returns the server's handler, for tests and for mounting.
func (s *Server) Handler() http.Handler { return s.http.Handler }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	var detail string
	if s.cfg.Detail != nil {
		if d := strings.TrimSpace(s.cfg.Detail()); d != "" {
			detail = "\n" + d
		}
	}
	if s.cfg.Ready != nil {
		ctx, cancel := context.WithTimeout(r.Context(), s.cfg.ReadyTimeout)
		defer cancel()
		if err := s.cfg.Ready(ctx); err != nil {
			s.cfg.Logger.Warn("not ready", "error", err)
			http.Error(w, "not ready: "+err.Error()+detail, http.StatusServiceUnavailable)
			return
		}
	}
	io.WriteString(w, "ready"+detail+"\n")
}

// Serve serves on lis until Shutdown, after which it returns nil.
func (s *Server) Serve(lis net.Listener) error {
	if err := s.http.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("admin: %w", err)
	}
	return nil
}

// Shutdown stops listening and waits for requests in progress until ctx
// ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stop()
	if err := s.http.Shutdown(ctx); err != nil {
		s.http.Close()
		return fmt.Errorf("admin: shutdown: %w", err)
	}
	return nil
}
