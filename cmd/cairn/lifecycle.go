package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// component is one part of a role: a server, a consumer, or a resource
// that must be released. Every field but name is optional.
type component struct {
	name string
	// listen is the TCP address the component serves on: the lifecycle
	// listens there and hands the listener to serve.
	listen string
	// attrs are logged with the component's "listening" line.
	attrs []any
	// start prepares the component before serve runs; addr, when not
	// empty, is where it now listens (for components that listen on their
	// own).
	start func(ctx context.Context) (addr string, err error)
	// serve does the component's work until stop makes it return; lis is
	// nil without listen. A return before shutdown, even a nil one, fails
	// the role.
	serve func(lis net.Listener) error
	// stop ends serve, or releases what start took, within ctx: the one
	// shutdown budget every component of the role shares.
	stop func(ctx context.Context) error
}

// lifecycle is the one start, serve and shutdown choreography of every
// role (dev, gateway, registry, worker). A role starts its components in
// order, then waits: until ctx ends or a component fails, whichever is
// first. Then it stops them in reverse order within one shutdown budget,
// waiting for each one's serve to return before stopping the one before
// it, and returns every error on the way, Serve's included.
//
// Use it as:
//
//	l := newLifecycle(log, cfg.ShutdownTimeout)
//	defer l.close(&err) // a failed start leaves nothing running
//	if err := l.start(ctx, component{…}); err != nil {
//		return err
//	}
//	…
//	return l.wait(ctx)
//
// A lifecycle is used by the one goroutine that runs the role; it is not
// safe for concurrent use.
type lifecycle struct {
	log     *slog.Logger
	timeout time.Duration
	started []*running
	// failed is closed when the first component fails; failure is that
	// component.
	failed   chan struct{}
	failOnce sync.Once
	failure  *running
	stopping bool
	stopped  bool
}

// running is a started component.
type running struct {
	component
	addr string
	// done is closed when serve returns, with its error in err; nil for
	// components that do not serve.
	done chan struct{}
	err  error
	// stopping is set before stop is called: serve's return is then
	// expected.
	stopping atomic.Bool
}

// newLifecycle returns a lifecycle whose shutdown takes at most timeout.
func newLifecycle(log *slog.Logger, timeout time.Duration) *lifecycle {
	return &lifecycle{log: log, timeout: timeout, failed: make(chan struct{})}
}

// start starts c: it listens, runs c.start, then c.serve in a goroutine the
// lifecycle waits for, and logs "NAME listening on ADDR" once when c has an
// address.
func (l *lifecycle) start(ctx context.Context, c component) error {
	r := &running{component: c}
	var lis net.Listener
	if c.listen != "" {
		var err error
		if lis, err = net.Listen("tcp", c.listen); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		r.addr = lis.Addr().String()
	}
	if c.start != nil {
		addr, err := c.start(ctx)
		if err != nil {
			if lis != nil {
				lis.Close()
			}
			return err
		}
		if addr != "" {
			r.addr = addr
		}
	}
	if c.serve != nil {
		r.done = make(chan struct{})
		go func() {
			defer close(r.done)
			err := c.serve(lis)
			unexpected := !r.stopping.Load()
			if unexpected && err == nil {
				err = fmt.Errorf("%s stopped before shutdown", c.name)
			}
			r.err = err
			if unexpected {
				l.failOnce.Do(func() {
					l.failure = r
					close(l.failed)
				})
			}
		}()
	}
	l.started = append(l.started, r)
	if r.addr != "" {
		l.log.Info(c.name+" listening on "+r.addr, c.attrs...)
	}
	return nil
}

// onStop adds a resource to release on shutdown, in its turn: after the
// components started later have stopped.
func (l *lifecycle) onStop(name string, stop func(ctx context.Context) error) {
	l.started = append(l.started, &running{component: component{name: name, stop: stop}})
}

// addr returns where the started component name listens, or "".
func (l *lifecycle) addr(name string) string {
	for _, r := range l.started {
		if r.name == name && r.addr != "" {
			return r.addr
		}
	}
	return ""
}

// wait serves until ctx ends or a component fails, then stops every
// component and returns what went wrong.
func (l *lifecycle) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		l.log.Info("shutting down")
	case <-l.failed:
		l.log.Error("shutting down: "+l.failure.name+" failed", "error", l.failure.err)
	}
	l.stopping = true
	return l.stop()
}

// close stops what is still running, after a failed start, adding its
// errors to *err. Defer it right after newLifecycle.
func (l *lifecycle) close(err *error) {
	if l.stopped {
		return
	}
	if len(l.started) > 0 && !l.stopping {
		l.log.Info("shutting down")
	}
	*err = errors.Join(*err, l.stop())
}

// stop stops the components in reverse order within one shutdown budget.
// A component's serve has returned before the one started before it is
// stopped.
func (l *lifecycle) stop() error {
	if l.stopped {
		return nil
	}
	l.stopped = true
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	var errs []error
	for i := len(l.started) - 1; i >= 0; i-- {
		r := l.started[i]
		r.stopping.Store(true)
		if r.stop != nil {
			if err := r.stop(ctx); err != nil {
				errs = append(errs, fmt.Errorf("stop %s: %w", r.name, err))
			}
		}
		if r.done != nil {
			<-r.done
			if r.err != nil {
				errs = append(errs, r.err)
			}
		}
	}
	if len(l.started) > 0 {
		l.log.Info("stopped")
	}
	return errors.Join(errs...)
}
