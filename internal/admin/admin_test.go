package admin_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnhq/cairn/internal/admin"
)

func TestEndpoints(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "cairn_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Inc()
	var down atomic.Bool
	srv := admin.New(admin.Config{Registry: reg, Ready: func(context.Context) error {
		if down.Load() {
			return errors.New("kafka unreachable")
		}
		return nil
	}})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	base := "http://" + lis.Addr().String()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/metrics"); code != 200 || !strings.Contains(body, "cairn_test_total 1") {
		t.Errorf("/metrics = %d %q", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d, want 200", code)
	}
	down.Store(true)
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, "kafka unreachable") {
		t.Errorf("/readyz while down = %d %q, want 503 naming the cause", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz while not ready = %d, want 200: the process is alive", code)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != nil {
		t.Fatalf("Serve after Shutdown = %v, want nil", err)
	}
}

func TestPprofOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		h := admin.New(admin.Config{Registry: prometheus.NewRegistry(), Pprof: on}).Handler()
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1"} {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			want := http.StatusNotFound
			if on {
				want = http.StatusOK
			}
			if rec.Code != want {
				t.Errorf("pprof %v: GET %s = %d, want %d", on, path, rec.Code, want)
			}
			if on && !strings.Contains(rec.Body.String(), "goroutine") {
				t.Errorf("GET %s does not list goroutines: %.200q", path, rec.Body.String())
			}
		}
	}
}

func TestReadyDetail(t *testing.T) {
	t.Parallel()
	var (
		down   atomic.Bool
		detail atomic.Value
	)
	detail.Store("")
	h := admin.New(admin.Config{
		Registry: prometheus.NewRegistry(),
		Ready: func(context.Context) error {
			if down.Load() {
				return errors.New("kafka unreachable")
			}
			return nil
		},
		Detail: func() string { return detail.Load().(string) },
	}).Handler()
	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	tests := []struct {
		down     bool
		detail   string
		wantCode int
		wantBody string
	}{
		{false, "", http.StatusOK, "ready\n"},
		{false, "degraded: event type a.B: rule \"r\" fails\n", http.StatusOK, "ready\ndegraded: event type a.B: rule \"r\" fails\n"},
		{true, "degraded: x\ndegraded: y", http.StatusServiceUnavailable, "not ready: kafka unreachable\ndegraded: x\ndegraded: y\n"},
		{true, "", http.StatusServiceUnavailable, "not ready: kafka unreachable\n"},
	}
	for _, tt := range tests {
		down.Store(tt.down)
		detail.Store(tt.detail)
		if code, body := readyz(); code != tt.wantCode || body != tt.wantBody {
			t.Errorf("down %v, detail %q: /readyz = %d %q, want %d %q", tt.down, tt.detail, code, body, tt.wantCode, tt.wantBody)
		}
	}
}
