package gateway_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/auth"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

const (
	testSecret   = "a-test-secret-that-is-long-enough-for-hs256"
	testAudience = "cairn-test"
	scorerKey    = "scorer-key-0123456789abcdef"
)

func TestAuth(t *testing.T) {
	t.Parallel()
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authn, err := auth.New(auth.Config{
		JWT: auth.JWTConfig{
			Keys:     []auth.Key{{ID: "hs", Key: []byte(testSecret)}, {ID: "ed", Key: edPub}},
			Audience: testAudience,
		},
		APIKeys: []auth.APIKey{
			{Key: auth.DevAPIKey, Name: "dev", Role: "service"},
			{Key: scorerKey, Name: "scorer", Role: "scorer"},
		},
		Roles: map[string][]string{
			"player":  {"cairn.hunt.v1.PlayerRegistered", "cairn.hunt.v1.AnswerSubmitted"},
			"scorer":  {"cairn.hunt.v1.AnswerJudged"},
			"service": {"*"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := startWith(t, options{configure: func(c *gateway.Config) { c.Auth = authn }})

	alice := newUUID()
	now := time.Now()
	token := func(method jwt.SigningMethod, key any, mutate func(*jwt.RegisteredClaims)) string {
		c := jwt.RegisteredClaims{
			Subject:   alice,
			Audience:  jwt.ClaimStrings{testAudience},
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			IssuedAt:  jwt.NewNumericDate(now),
		}
		if mutate != nil {
			mutate(&c)
		}
		tok, err := jwt.NewWithClaims(method, c).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	hs := func(mutate func(*jwt.RegisteredClaims)) string {
		return token(jwt.SigningMethodHS256, []byte(testSecret), mutate)
	}
	bearer := func(tok string) []string { return []string{"authorization", "Bearer " + tok} }

	tests := []struct {
		name    string
		md      []string
		payload func() *gatewayv1.PublishRequest
		code    codes.Code
		want    string // in the message
	}{
		{"player's own registration, HS256", bearer(hs(nil)), func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.OK, ""},
		{"player's own registration, EdDSA", bearer(token(jwt.SigningMethodEdDSA, edPriv, nil)), func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.OK, ""},
		{"service by x-api-key names any actor", []string{"x-api-key", auth.DevAPIKey}, func() *gatewayv1.PublishRequest { return event(t, player(newUUID(), "Bob")) }, codes.OK, ""},
		{"service by bearer API key", bearer(auth.DevAPIKey), func() *gatewayv1.PublishRequest { return event(t, player(newUUID(), "Bob")) }, codes.OK, ""},
		{"missing token", nil, func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.Unauthenticated, "no credentials"},
		{"malformed authorization", []string{"authorization", "Basic abc"}, func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.Unauthenticated, "Bearer"},
		{"bad signature", bearer(token(jwt.SigningMethodHS256, []byte("another-secret-that-is-long-enough-too"), nil)), func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.Unauthenticated, "signature"},
		{"expired token", bearer(hs(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Minute)) })), func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.Unauthenticated, "expired"},
		{"token not yet valid", bearer(hs(func(c *jwt.RegisteredClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })), func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.Unauthenticated, "not valid yet"},
		{"wrong audience", bearer(hs(func(c *jwt.RegisteredClaims) { c.Audience = jwt.ClaimStrings{"elsewhere"} })), func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.Unauthenticated, "audience"},
		{"no expiry", bearer(hs(func(c *jwt.RegisteredClaims) { c.ExpiresAt = nil })), func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.Unauthenticated, "exp"},
		{"unknown API key", []string{"x-api-key", "not-a-key-of-ours-at-all"}, func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.Unauthenticated, "unknown API key"},
		{"player's role may not create hunts", bearer(hs(nil)), func() *gatewayv1.PublishRequest { return event(t, &huntv1.HuntCreated{}) }, codes.PermissionDenied, "cairn.hunt.v1.HuntCreated"},
		{"scorer's role may not register players", []string{"x-api-key", scorerKey}, func() *gatewayv1.PublishRequest { return event(t, player(alice, "Alice")) }, codes.PermissionDenied, `role "scorer"`},
		{"actor mismatch", bearer(hs(nil)), func() *gatewayv1.PublishRequest { return event(t, player(newUUID(), "Mallory")) }, codes.PermissionDenied, "cairn.hunt.v1.PlayerRegistered.player_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			if tt.md != nil {
				ctx = metadata.AppendToOutgoingContext(ctx, tt.md...)
			}
			req := tt.payload()
			req.Event.EventId = newUUID()
			_, err := s.client.Publish(ctx, req)
			st := status.Convert(err)
			if st.Code() != tt.code || !strings.Contains(st.Message(), tt.want) {
				t.Errorf("Publish = %v, want %v containing %q", err, tt.code, tt.want)
			}
		})
	}

	t.Run("batch and stream need credentials too", func(t *testing.T) {
		t.Parallel()
		batch := &gatewayv1.PublishBatchRequest{Events: []*gatewayv1.Event{newEvent(t, newUUID(), player(alice, "Alice"))}}
		if _, err := s.client.PublishBatch(t.Context(), batch); status.Code(err) != codes.Unauthenticated {
			t.Errorf("PublishBatch without credentials = %v, want Unauthenticated", err)
		}
		stream, err := s.client.PublishStream(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		_ = stream.Send(&gatewayv1.PublishStreamRequest{Event: batch.Events[0]})
		if _, err := stream.Recv(); status.Code(err) != codes.Unauthenticated {
			t.Errorf("PublishStream without credentials = %v, want Unauthenticated", err)
		}
	})

	t.Run("per-event permission in a batch", func(t *testing.T) {
		t.Parallel()
		ctx := metadata.AppendToOutgoingContext(t.Context(), bearer(hs(nil))...)
		batch := &gatewayv1.PublishBatchRequest{Events: []*gatewayv1.Event{
			newEvent(t, newUUID(), player(alice, "Alice")),
			newEvent(t, newUUID(), player(newUUID(), "Mallory")),
		}}
		resp, err := s.client.PublishBatch(ctx, batch)
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetResults()[0].GetAccepted() == nil || codes.Code(resp.GetResults()[1].GetRejected().GetCode()) != codes.PermissionDenied {
			t.Errorf("results = %v, want accepted then PERMISSION_DENIED", resp.GetResults())
		}
	})

	t.Run("a player's timestamps follow the gateway's clock", func(t *testing.T) {
		t.Parallel()
		ctx := metadata.AppendToOutgoingContext(t.Context(), bearer(hs(nil))...)
		backdated := player(alice, "Alice")
		backdated.RegisteredAt = timestamppb.New(time.Now().Add(-time.Hour))
		_, err := s.client.Publish(ctx, event(t, backdated))
		if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "registered_at is 1h0m0s away from the gateway's clock") {
			t.Errorf("player's backdated event = %v, want InvalidArgument naming registered_at", err)
		}
		// A service may publish any time.
		svc := metadata.AppendToOutgoingContext(t.Context(), "x-api-key", auth.DevAPIKey)
		if _, err := s.client.Publish(svc, event(t, backdated)); err != nil {
			t.Errorf("service's backdated event = %v, want accepted", err)
		}
	})

	t.Run("a stream ends when its token expires", func(t *testing.T) {
		t.Parallel()
		short := hs(func(c *jwt.RegisteredClaims) { c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(2 * time.Second)) })
		ctx := metadata.AppendToOutgoingContext(t.Context(), bearer(short)...)
		stream, err := s.client.PublishStream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(&gatewayv1.PublishStreamRequest{Event: newEvent(t, newUUID(), player(alice, "Alice"))}); err != nil {
			t.Fatal(err)
		}
		if resp, err := stream.Recv(); err != nil || resp.GetResult().GetAccepted() == nil {
			t.Fatalf("first event = %v, %v; want accepted", resp, err)
		}
		// After the expiry the stream ends, whatever the client sends.
		deadline := time.Now().Add(20 * time.Second)
		for {
			_ = stream.Send(&gatewayv1.PublishStreamRequest{Event: newEvent(t, newUUID(), player(alice, "Alice"))})
			_, err := stream.Recv()
			if status.Code(err) == codes.Unauthenticated {
				break
			}
			if err != nil || time.Now().After(deadline) {
				t.Fatalf("stream after its token expired: %v, want Unauthenticated", err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	})

}
