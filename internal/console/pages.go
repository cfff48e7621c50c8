package console

import (
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/inspect"
	"github.com/cairnhq/cairn/internal/kafkax"
)

var funcs = template.FuncMap{
	"rfc3339": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	},
	"perSec":   func(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) },
	"count":    func(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) },
	"textLine": inspect.TextLine,
}

func itoa(i int64) string { return strconv.FormatInt(i, 10) }

func (c *Console) subjects(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Registry == nil {
		c.fail(w, r, http.StatusNotFound, "This process does not read a schema registry.")
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	subjects, err := c.cfg.Registry.Subjects(ctx)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "The registry did not answer: "+err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "subjects", "subjects", false, subjects)
}

func (c *Console) subject(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Registry == nil {
		c.fail(w, r, http.StatusNotFound, "This process does not read a schema registry.")
		return
	}
	name := r.PathValue("subject")
	ctx, cancel := c.ctx(r)
	defer cancel()
	s, err := c.cfg.Registry.Subject(ctx, name)
	switch {
	case errors.Is(err, ErrNotFound):
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("The registry has no subject %q.", name))
		return
	case err != nil:
		c.fail(w, r, http.StatusBadGateway, "The registry did not answer: "+err.Error())
		return
	}
	version := s.Versions[len(s.Versions)-1]
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.fail(w, r, http.StatusBadRequest, fmt.Sprintf("Version %q is not a version number (1, 2, …).", v))
			return
		}
		version = n
	}
	sv, err := c.cfg.Registry.Version(ctx, name, version)
	switch {
	case errors.Is(err, ErrNotFound):
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("Subject %q has no version %d.", name, version))
		return
	case err != nil:
		c.fail(w, r, http.StatusBadGateway, "The registry did not answer: "+err.Error())
		return
	}
	c.render(w, r, http.StatusOK, "subject", "subjects", false, struct {
		Subject *Subject
		Version *Version
	}{s, sv})
}

func (c *Console) deadLetters(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Cluster == nil {
		c.fail(w, r, http.StatusNotFound, "This process does not read Kafka.")
		return
	}
	q := r.URL.Query()
	f := inspect.Filter{Reason: q.Get("reason"), SourceTopic: q.Get("source_topic")}
	ctx, cancel := c.ctx(r)
	defer cancel()
	ds, regErr, err := c.cfg.Cluster.DeadLetters(ctx, f)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Kafka did not answer: "+err.Error())
		return
	}
	warn := ""
	if regErr != nil {
		warn = "The registry did not answer, so records are shown undecoded: " + regErr.Error()
	}
	c.render(w, r, http.StatusOK, "deadletters", "deadletters", false, struct {
		DeadLetters []inspect.DeadLetter
		Groups      []inspect.Group
		Filter      inspect.Filter
		Warning     string
	}{ds, inspect.Groups(ds), f, warn})
}

// replay answers a replay form: without confirm=yes it shows what would
// happen and asks for confirmation; with it, it replays.
func (c *Console) replay(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Cluster == nil {
		c.fail(w, r, http.StatusNotFound, "This process does not read Kafka.")
		return
	}
	if err := r.ParseForm(); err != nil {
		c.fail(w, r, http.StatusBadRequest, "The form could not be read: "+err.Error())
		return
	}
	ids := r.PostForm["id"]
	if len(ids) == 0 {
		c.fail(w, r, http.StatusBadRequest, "No dead letter was selected.")
		return
	}
	for _, id := range ids {
		if _, _, err := inspect.ParseID(id); err != nil {
			c.fail(w, r, http.StatusBadRequest, err.Error())
			return
		}
	}
	execute := r.PostForm.Get("confirm") == "yes"
	ctx, cancel := c.ctx(r)
	defer cancel()
	rs, err := c.cfg.Cluster.Replay(ctx, ids, execute)
	if errors.Is(err, inspect.ErrNoProducer) {
		c.fail(w, r, http.StatusConflict, err.Error())
		return
	}
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Replay failed: "+err.Error())
		return
	}
	sum := inspect.Summarize(rs)
	c.render(w, r, http.StatusOK, "replay", "deadletters", false, struct {
		Results  []inspect.Result
		Summary  inspect.Summary
		Executed bool
		IDs      []string
	}{rs, sum, execute, ids})
}

// parseFrom parses the tail's "from": end, beginning or an offset.
func parseFrom(s string) (kafkax.Start, error) {
	switch s {
	case "", "end":
		return kafkax.Start{FromEnd: true}, nil
	case "beginning":
		return kafkax.Start{FromBeginning: true}, nil
	}
	off, err := strconv.ParseInt(s, 10, 64)
	if err != nil || off < 0 {
		return kafkax.Start{}, fmt.Errorf("offset %q: want end, beginning or an offset (0 or more)", s)
	}
	return kafkax.Start{Offset: off}, nil
}

func (c *Console) tail(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Cluster == nil {
		c.fail(w, r, http.StatusNotFound, "This process does not read Kafka.")
		return
	}
	topic, from := r.URL.Query().Get("topic"), r.URL.Query().Get("from")
	if _, err := parseFrom(from); err != nil {
		c.fail(w, r, http.StatusBadRequest, "Malformed start: "+err.Error())
		return
	}
	ctx, cancel := c.ctx(r)
	defer cancel()
	topics, err := c.cfg.Cluster.Topics(ctx)
	if err != nil {
		c.fail(w, r, http.StatusBadGateway, "Kafka did not answer: "+err.Error())
		return
	}
	if topic != "" && !contains(topics, topic) {
		c.fail(w, r, http.StatusNotFound, fmt.Sprintf("There is no topic %q. The topics are: %s.", topic, strings.Join(topics, ", ")))
		return
	}
	if from == "" {
		from = "end"
	}
	c.render(w, r, http.StatusOK, "tail", "tail", false, struct {
		Topics      []string
		Topic, From string
	}{topics, topic, from})
}

// tailStream sends a topic's records as server-sent events, one JSON
// record per event, until the client goes away.
func (c *Console) tailStream(w http.ResponseWriter, r *http.Request) {
	if c.cfg.Cluster == nil {
		http.Error(w, "this process does not read Kafka", http.StatusNotFound)
		return
	}
	topic := r.URL.Query().Get("topic")
	start, err := parseFrom(r.URL.Query().Get("from"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if topic == "" {
		http.Error(w, "no topic given", http.StatusBadRequest)
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	started := false // nothing written yet: an error can still be a status
	err = c.cfg.Cluster.Tail(r.Context(), topic, start, func(rec inspect.Record) error {
		started = true
		line, err := jsonLine(rec)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "data: %s\n\n", line); err != nil {
			return err
		}
		return rc.Flush()
	})
	var unknown *inspect.UnknownTopicError
	if errors.As(err, &unknown) && !started {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if err != nil && r.Context().Err() == nil {
		c.cfg.Logger.Warn("console: tail", "topic", topic, "error", err)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
