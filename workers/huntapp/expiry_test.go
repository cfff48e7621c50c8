package huntapp_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/sqldb"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/workertest"
)

// devToken is a player's token as `cairn token` mints it, valid for ttl.
func devToken(t testing.TB, player string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   player,
		Audience:  jwt.ClaimStrings{auth.DevAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	})
	tok.Header["kid"] = "dev"
	signed, err := tok.SignedString([]byte(auth.DevJWTSecret))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// TestWatchEndsWhenTokenExpires (issue 9, item 11): a WatchPlayer stream
// opened with a short-lived token ends with Unauthenticated when the token
// expires, as the worker serves it (behind the auth interceptors).
func TestWatchEndsWhenTokenExpires(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	r := e.startWorker(t, "expiry", nil)
	authn, err := auth.New(auth.DevConfig())
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(authn.ServerOptions(nil)...)
	huntv1.RegisterHuntServiceServer(srv, r.app.HuntService())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	player := workertest.NewID()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+devToken(t, player, 2*time.Second))
	stream, err := huntv1.NewHuntServiceClient(conn).WatchPlayer(ctx, &huntv1.WatchPlayerRequest{PlayerId: player})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Header(); err != nil {
		t.Fatalf("the stream did not open: %v", err)
	}
	_, err = stream.Recv()
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("after the token expired, Recv = %v, want Unauthenticated", err)
	}
}
