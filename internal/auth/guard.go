package auth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Failed authentications are limited per peer address: a peer may fail
// FailuresPerSecond times a second, with a burst of FailureBurst, before
// its calls are refused with ResourceExhausted without being looked at.
const (
	FailuresPerSecond = 5
	FailureBurst      = 20
	maxFailingPeers   = 10_000
)

// ServerOptions returns the interceptors that authenticate every call to a
// gRPC server but health and reflection (which stay open, for load
// balancers and grpcurl), and put the caller's Principal in the call's
// context (see FromContext): handlers only authorize. A player may ask
// only about themselves: a request's player_id, when set, must be the
// token's subject. Failed authentications are rate limited per peer address
// and logged to log (nil: slog.Default()) at most once a second per reason,
// with a count. A nil Authenticator lets every call through, with no
// principal.
func (a *Authenticator) ServerOptions(log *slog.Logger) []grpc.ServerOption {
	if log == nil {
		log = slog.Default()
	}
	g := &guard{auth: a, log: log, failures: make(map[string]*rate.Limiter), logged: make(map[string]*failureLog)}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(g.unary), grpc.ChainStreamInterceptor(g.stream)}
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal the interceptors of ServerOptions
// authenticated for the call ctx belongs to, if any.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}

type guard struct {
	auth *Authenticator
	log  *slog.Logger

	mu       sync.Mutex
	failures map[string]*rate.Limiter // by peer host
	logged   map[string]*failureLog   // by reason
}

// failureLog counts failures of one reason between log lines.
type failureLog struct {
	last  time.Time
	count int
}

// open reports whether a method needs no credentials.
func (g *guard) open(method string) bool {
	return g.auth == nil || strings.HasPrefix(method, "/grpc.health.v1.") || strings.HasPrefix(method, "/grpc.reflection.")
}

func (g *guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if g.open(info.FullMethod) {
		return handler(ctx, req)
	}
	p, err := g.authenticate(ctx, info.FullMethod)
	if err != nil {
		return nil, err
	}
	if err := ownRequest(p, req); err != nil {
		return nil, err
	}
	return handler(NewContext(ctx, p), req)
}

func (g *guard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if g.open(info.FullMethod) {
		return handler(srv, ss)
	}
	p, err := g.authenticate(ss.Context(), info.FullMethod)
	if err != nil {
		return err
	}
	if p.Expires.IsZero() {
		return handler(srv, &guardedStream{ServerStream: ss, ctx: NewContext(ss.Context(), p), p: p})
	}
	// A stream lives no longer than the credentials it was opened with,
	// as the gateway's PublishStream: its context ends when they expire,
	// and the stream with Unauthenticated.
	ctx, cancel := context.WithCancelCause(NewContext(ss.Context(), p))
	defer cancel(nil)
	timer := time.AfterFunc(time.Until(p.Expires), func() { cancel(errExpired) })
	defer timer.Stop()
	err = handler(srv, &guardedStream{ServerStream: ss, ctx: ctx, p: p})
	if errors.Is(context.Cause(ctx), errExpired) {
		return status.Error(codes.Unauthenticated, "the token this stream was opened with has expired; open a new stream with a fresh token")
	}
	return err
}

// errExpired ends a stream whose credentials expired.
var errExpired = errors.New("credentials expired")

func (g *guard) authenticate(ctx context.Context, method string) (*Principal, error) {
	host := peerHost(ctx)
	if g.overFailures(host, false) {
		return nil, status.Error(codes.ResourceExhausted, "too many failed authentications from this address; retry later")
	}
	p, err := g.auth.Authenticate(ctx)
	if err == nil {
		return p, nil
	}
	g.overFailures(host, true)
	msg := "unauthenticated"
	if errors.Is(err, ErrUnauthenticated) {
		msg = err.Error()
	}
	g.logFailure(msg, method, host)
	return nil, status.Error(codes.Unauthenticated, msg)
}

// overFailures reports whether host is over its failure rate; with take, it
// counts one more failure.
func (g *guard) overFailures(host string, take bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	l, ok := g.failures[host]
	if !ok {
		if !take {
			return false
		}
		if len(g.failures) >= maxFailingPeers {
			for h, l := range g.failures { // drop peers whose buckets are full again
				if l.Tokens() >= FailureBurst {
					delete(g.failures, h)
				}
			}
		}
		l = rate.NewLimiter(FailuresPerSecond, FailureBurst)
		g.failures[host] = l
	}
	if take {
		l.Allow()
		return false
	}
	return l.Tokens() < 1
}

// logFailure logs a failed authentication at most once a second per
// reason, with how many happened since the last line.
func (g *guard) logFailure(reason, method, host string) {
	now := time.Now()
	g.mu.Lock()
	f, ok := g.logged[reason]
	if !ok {
		if len(g.logged) >= maxFailingPeers {
			clear(g.logged)
		}
		f = &failureLog{}
		g.logged[reason] = f
	}
	f.count++
	if now.Sub(f.last) < time.Second {
		g.mu.Unlock()
		return
	}
	count := f.count
	f.last, f.count = now, 0
	g.mu.Unlock()
	g.log.Info("authentication failed", "reason", reason, "count", count, "method", method, "peer", host)
}

// peerHost is the address a call comes from, without its port.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return ""
	}
	addr := p.Addr.String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// guardedStream carries the principal in its context and checks each
// message the client sends.
type guardedStream struct {
	grpc.ServerStream
	ctx context.Context
	p   *Principal
}

func (s *guardedStream) Context() context.Context { return s.ctx }

func (s *guardedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return ownRequest(s.p, m)
}

// ownRequest refuses a player's request about another player: its
// player_id field, when set, must be the player's own id.
func ownRequest(p *Principal, req any) error {
	m, ok := req.(proto.Message)
	if !ok || p.Kind != Player {
		return nil
	}
	r := m.ProtoReflect()
	fd := r.Descriptor().Fields().ByName("player_id")
	if fd == nil || fd.Kind() != protoreflect.StringKind || fd.IsList() {
		return nil
	}
	if id := r.Get(fd).String(); id != "" && id != p.Subject {
		return status.Errorf(codes.PermissionDenied, "a player may ask only about themselves: player_id is not the token's subject")
	}
	return nil
}
