// Package console serves Cairn's operator web console: the pipeline at a
// glance (health and readiness, events per type per second, consumer lag,
// dead letters by reason), the registry's subjects, the dead letters with a
// replay that asks for confirmation, and a live tail of a topic. Pages are
// server-rendered HTML (html/template) with a little vanilla JavaScript
// that refreshes them in place; everything is embedded in the binary.
//
// The console reads its data through the small interfaces it declares
// here; a nil source hides its part of the console.
package console

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cairnhq/cairn/internal/inspect"
	"github.com/cairnhq/cairn/internal/kafkax"
)

// Check is one component's health, as the overview shows it.
type Check struct {
	Name  string
	Ready bool
	// Reason says why it is not ready.
	Reason string
}

// Registry is the schema registry, read-only.
type Registry interface {
	Subjects(ctx context.Context) ([]string, error)
	// Subject returns a subject's versions and compatibility level, or an
	// error wrapping ErrNotFound.
	Subject(ctx context.Context, subject string) (*Subject, error)
	// Version returns one version's schema, or an error wrapping
	// ErrNotFound.
	Version(ctx context.Context, subject string, version int) (*Version, error)
}

// Subject is a registry subject.
type Subject struct {
	Name          string
	Versions      []int
	Compatibility string
}

// Version is one version of a subject.
type Version struct {
	Subject string
	Version int
	ID      int
	Type    string
	Text    string
	// References name the schemas it imports: "name → subject vN".
	References []string
}

// ErrNotFound is wrapped by Registry errors for subjects and versions that
// do not exist.
var ErrNotFound = errors.New("not found")

// Cluster is Kafka as the console sees it; *inspect.Cluster is one.
type Cluster interface {
	Topics(ctx context.Context) ([]string, error)
	Lag(ctx context.Context, group string, topics []string) ([]kafkax.PartitionState, error)
	Tail(ctx context.Context, topic string, start kafkax.Start, emit func(inspect.Record) error) error
	DeadLetters(ctx context.Context, f inspect.Filter) ([]inspect.DeadLetter, error, error)
	Replay(ctx context.Context, ids []string, execute bool) ([]inspect.Result, error)
}

// Config configures New.
type Config struct {
	// Title names the process, e.g. "cairn dev".
	Title string
	// Health reports each component's health; nil shows none.
	Health func(ctx context.Context) []Check
	// Metrics is the process's Prometheus registry, read for the event
	// rates; nil shows none.
	Metrics prometheus.Gatherer
	// Cluster reads Kafka; nil hides lag, dead letters and tail.
	Cluster Cluster
	// LagGroup and LagTopics say whose lag to show: a consumer group's
	// committed offsets on its input topics.
	LagGroup  string
	LagTopics []string
	// Registry lists the schemas; nil hides them.
	Registry Registry
	// Refresh is how often pages refresh themselves; zero means 2 s.
	Refresh time.Duration
	// Timeout bounds each data request; zero means 5 s.
	Timeout time.Duration
	Logger  *slog.Logger
}

//go:embed assets templates
var files embed.FS

// Console is the console's HTTP handler. It is safe for concurrent use.
type Console struct {
	cfg   Config
	pages map[string]*template.Template
	mux   *http.ServeMux
	rates *rates
}

// New returns the console; mount it at "/".
func New(cfg Config) (*Console, error) {
	if cfg.Refresh <= 0 {
		cfg.Refresh = 2 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Title == "" {
		cfg.Title = "cairn"
	}
	c := &Console{cfg: cfg, pages: make(map[string]*template.Template), mux: http.NewServeMux(), rates: newRates()}
	for _, name := range []string{"overview", "subjects", "subject", "deadletters", "replay", "tail", "error"} {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		c.pages[name] = t
	}
	assets, err := fs.Sub(files, "assets")
	if err != nil {
		return nil, err
	}
	c.mux.Handle("GET /assets/", http.StripPrefix("/assets/", http.FileServerFS(assets)))
	c.mux.HandleFunc("GET /{$}", c.overview)
	c.mux.HandleFunc("GET /live/overview", c.overviewLive)
	c.mux.HandleFunc("GET /subjects", c.subjects)
	c.mux.HandleFunc("GET /subjects/{subject}", c.subject)
	c.mux.HandleFunc("GET /deadletters", c.deadLetters)
	c.mux.HandleFunc("POST /deadletters/replay", c.replay)
	c.mux.HandleFunc("GET /tail", c.tail)
	c.mux.HandleFunc("GET /tail/stream", c.tailStream)
	c.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		c.fail(w, r, http.StatusNotFound, "There is no page at "+r.URL.Path+".")
	})
	return c, nil
}

// ServeHTTP serves the console. Forms are refused when posted from
// another site.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
	if err := http.NewCrossOriginProtection().Check(r); err != nil {
		c.fail(w, r, http.StatusForbidden, "This form was sent from another site; open the console and try again.")
		return
	}
	c.mux.ServeHTTP(w, r)
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string
	Refresh int // milliseconds; 0: the page does not refresh itself
	Data    any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, nav string, refresh bool, data any) {
	p := page{Title: c.cfg.Title, Nav: nav, Data: data}
	if refresh {
		p.Refresh = int(c.cfg.Refresh.Milliseconds())
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := c.pages[name].Execute(w, p); err != nil {
		c.cfg.Logger.Warn("console: render", "page", name, "path", r.URL.Path, "error", err)
	}
}

// fail answers with an error page.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", "", false, struct {
		Status int
		Text   string
		Msg    string
	}{status, http.StatusText(status), msg})
}

func (c *Console) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), c.cfg.Timeout)
}
