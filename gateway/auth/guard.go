package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// ServerOptions returns interceptors that authenticate every call to a
// gRPC server except to the services named in self (which authenticate
// their own calls), health and reflection (which stay open, for load
// balancers and grpcurl). A player may ask only about themselves: a
// request's player_id, when set, must be the token's subject. A nil
// Authenticator lets every call through.
func (a *Authenticator) ServerOptions(self ...string) []grpc.ServerOption {
	g := &guard{auth: a, self: self}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(g.unary), grpc.ChainStreamInterceptor(g.stream)}
}

type guard struct {
	auth *Authenticator
	self []string
}

// open reports whether a method needs no credentials here.
func (g *guard) open(method string) bool {
	if g.auth == nil || strings.HasPrefix(method, "/grpc.health.v1.") || strings.HasPrefix(method, "/grpc.reflection.") {
		return true
	}
	for _, svc := range g.self {
		if strings.HasPrefix(method, "/"+svc+"/") {
			return true
		}
	}
	return false
}

func (g *guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if g.open(info.FullMethod) {
		return handler(ctx, req)
	}
	p, err := g.authenticate(ctx)
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
	p, err := g.authenticate(ss.Context())
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

func (g *guard) authenticate(ctx context.Context) (*Principal, error) {
	p, err := g.auth.Authenticate(ctx)
	if err != nil {
		msg := "unauthenticated"
		if errors.Is(err, ErrUnauthenticated) {
			msg = err.Error()
		}
		return nil, status.Error(codes.Unauthenticated, msg)
	}
	return p, nil
}

// guardedStream checks each message the client sends; its context ends
// when the credentials expire.
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

type principalKey struct{}

// NewContext returns ctx carrying p, the caller the interceptors
// authenticated.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the caller the interceptors authenticated, or false
// for a call that was not authenticated (an open method, or no
// Authenticator).
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}
