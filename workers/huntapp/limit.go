package huntapp

import (
	"context"
	"sync"

	"golang.org/x/time/rate"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/internal/auth"
)

// maxCallers bounds how many callers' limiters are kept; past it, those
// whose bucket has refilled (as good as new) are forgotten.
const maxCallers = 10_000

// readLimiter rate-limits the read methods per caller: the authenticated
// principal, or the peer address of an unauthenticated call. It is safe
// for concurrent use.
type readLimiter struct {
	every rate.Limit
	burst int

	mu      sync.Mutex
	callers map[string]*rate.Limiter
}

func newReadLimiter(perSecond float64, burst int) *readLimiter {
	return &readLimiter{every: rate.Limit(perSecond), burst: burst, callers: make(map[string]*rate.Limiter)}
}

// allow spends one of the caller's reads, or returns ResourceExhausted.
// A nil limiter allows every call.
func (l *readLimiter) allow(ctx context.Context, method string) error {
	if l == nil {
		return nil
	}
	caller := callerOf(ctx)
	l.mu.Lock()
	lim, ok := l.callers[caller]
	if !ok {
		if len(l.callers) >= maxCallers {
			for k, v := range l.callers {
				if v.Tokens() >= float64(l.burst) {
					delete(l.callers, k)
				}
			}
		}
		lim = rate.NewLimiter(l.every, l.burst)
		l.callers[caller] = lim
	}
	l.mu.Unlock()
	if !lim.Allow() {
		return status.Errorf(codes.ResourceExhausted, "%s: too many reads from %s; at most %g a second (burst %d)", method, caller, float64(l.every), l.burst)
	}
	return nil
}

// callerOf names who makes a call.
func callerOf(ctx context.Context) string {
	if p, ok := auth.FromContext(ctx); ok {
		return p.ID
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return "peer:" + p.Addr.String()
	}
	return "unknown"
}
