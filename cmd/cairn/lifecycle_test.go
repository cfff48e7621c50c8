package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// record notes the order in which components stop.
type record struct {
	mu  sync.Mutex
	log []string
}

func (r *record) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, s)
}

func (r *record) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// blocking is a component whose serve runs until stop.
func blocking(name string, rec *record) component {
	stop := make(chan struct{})
	return component{
		name:  name,
		serve: func(net.Listener) error { <-stop; rec.add(name + " served"); return nil },
		stop:  func(context.Context) error { rec.add("stop " + name); close(stop); return nil },
	}
}

// TestLifecycleStopsInReverse: on ctx's end, components stop last first,
// each one's serve returning before the one before it is stopped; a real
// HTTP server on port 0 says where it listens.
func TestLifecycleStopsInReverse(t *testing.T) {
	var logs lockedBuffer
	rec := &record{}
	l := newLifecycle(slog.New(slog.NewTextHandler(&logs, nil)), 5*time.Second)
	l.onStop("resource", func(context.Context) error { rec.add("stop resource"); return nil })
	srv := &http.Server{Handler: http.NotFoundHandler()}
	if err := l.start(t.Context(), component{
		name:   "http",
		listen: "127.0.0.1:0",
		serve: func(lis net.Listener) error {
			if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		},
		stop: srv.Shutdown,
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b"} {
		if err := l.start(t.Context(), blocking(n, rec)); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get("http://" + l.addr("http") + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := l.wait(ctx); err != nil {
		t.Fatal(err)
	}
	want := []string{"stop b", "b served", "stop a", "a served", "stop resource"}
	if got := rec.get(); !slices.Equal(got, want) {
		t.Errorf("stopped %q, want %q", got, want)
	}
	out := devLog(&logs)
	for _, w := range []string{`msg="http listening on 127.0.0.1:`, `msg="shutting down"`, `msg=stopped`} {
		if strings.Count(out, w) != 1 {
			t.Errorf("log has %q %d times, want once:\n%s", w, strings.Count(out, w), out)
		}
	}
	var err2 error
	l.close(&err2) // after wait: nothing left to do
	if err2 != nil {
		t.Error(err2)
	}
}

// TestLifecycleFailure: a component that fails shuts the role down, its
// error is returned with the others', and nothing is left running; a
// component that returns early without an error fails it too.
func TestLifecycleFailure(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"error", errors.New("disk on fire"), "disk on fire"},
		{"early", nil, "broken stopped before shutdown"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &record{}
			l := newLifecycle(slog.New(slog.DiscardHandler), 5*time.Second)
			if err := l.start(t.Context(), blocking("a", rec)); err != nil {
				t.Fatal(err)
			}
			if err := l.start(t.Context(), component{name: "broken", serve: func(net.Listener) error { return tt.err }}); err != nil {
				t.Fatal(err)
			}
			l.onStop("closer", func(context.Context) error { return errors.New("close failed") })
			err := l.wait(t.Context()) // ends by the failure, not by ctx
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "stop closer: close failed") {
				t.Errorf("wait = %v, want %q and the closer's error", err, tt.want)
			}
			if got := rec.get(); !slices.Equal(got, []string{"stop a", "a served"}) {
				t.Errorf("stopped %q", got)
			}
		})
	}
}

// TestLifecycleStartFails: when a start fails, close stops what started.
func TestLifecycleStartFails(t *testing.T) {
	rec := &record{}
	run := func() (err error) {
		l := newLifecycle(slog.New(slog.DiscardHandler), 5*time.Second)
		defer l.close(&err)
		if err := l.start(t.Context(), blocking("a", rec)); err != nil {
			return err
		}
		busy, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer busy.Close()
		if err := l.start(t.Context(), component{name: "b", listen: busy.Addr().String()}); err != nil {
			return err
		}
		return l.wait(t.Context())
	}
	err := run()
	if err == nil || !strings.Contains(err.Error(), "b: listen tcp") {
		t.Errorf("run = %v, want b's listen error", err)
	}
	if got := rec.get(); !slices.Equal(got, []string{"stop a", "a served"}) {
		t.Errorf("stopped %q", got)
	}
}
