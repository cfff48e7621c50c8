package registry

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/cairnhq/cairn/registry/regclient"
)

// logged logs each request at debug level, and those answered with a 5xx
// at error level: method, escaped path, status and duration, never the
// body, the query or the headers.
func (h *restHandler) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelError
		}
		h.log.Log(r.Context(), level, "registry http request",
			"method", r.Method, "path", r.URL.EscapedPath(), "status", sw.statusOr200(), "duration", time.Since(start))
	})
}

// recovered turns a panic in a handler into a 50001 answer, and logs it
// with its stack.
func (h *restHandler) recovered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			p := recover()
			if p == nil {
				return
			}
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.log.ErrorContext(r.Context(), "registry handler panicked",
				"method", r.Method, "path", r.URL.EscapedPath(), "panic", p, "stack", string(debug.Stack()))
			if sw, ok := w.(*statusWriter); !ok || sw.status == 0 {
				writeError(w, r, &regclient.Error{Code: regclient.CodeStore, Message: "Internal error in the schema registry"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) statusOr200() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
