package gateway

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxIdleLimiters is how many principals' buckets are kept before full
// (idle) ones are dropped.
const maxIdleLimiters = 10_000

// limiters holds a token bucket per principal.
type limiters struct {
	limit rate.Limit
	burst int

	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLimiters(cfg RateLimit) *limiters {
	return &limiters{limit: rate.Limit(cfg.PerSecond), burst: cfg.Burst, m: make(map[string]*rate.Limiter)}
}

// allow takes a token from principal's bucket. When there is none it
// returns false and how long until there is.
func (l *limiters) allow(principal string) (bool, time.Duration) {
	if l.limit == 0 {
		return true, 0
	}
	now := time.Now()
	l.mu.Lock()
	lim, ok := l.m[principal]
	if !ok {
		if len(l.m) >= maxIdleLimiters {
			l.pruneLocked(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.m[principal] = lim
	}
	l.mu.Unlock()
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// pruneLocked drops the buckets that are full again: forgetting them loses
// nothing.
func (l *limiters) pruneLocked(now time.Time) {
	for k, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.m, k)
		}
	}
}
