package huntapp_test

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/internal/sqldb"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/huntapp"
	"github.com/cairnhq/cairn/workers/workertest"
)

// TestReadsAreRateLimitedPerCaller (issue 9, item 14): GetHunt,
// GetLeaderboard and GetPlayerProgress share a per-caller budget; past it
// a caller gets ResourceExhausted while another caller is still served.
func TestReadsAreRateLimitedPerCaller(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	app, err := huntapp.New(huntapp.Config{
		DB: e.db, Registry: e.types, Brokers: e.broker.Addr(), Group: "limit", Validator: validator,
		ReadRate: 0.001, ReadBurst: 3,
	})
	if err != nil {
		t.Fatal(err)
	}
	huntID, player := workertest.NewID(), workertest.NewID()
	first := serve(t, app) // each client is its own connection: its own caller
	calls := []func(huntv1.HuntServiceClient) error{
		func(c huntv1.HuntServiceClient) error {
			_, err := c.GetHunt(t.Context(), &huntv1.GetHuntRequest{HuntId: huntID})
			return err
		},
		func(c huntv1.HuntServiceClient) error {
			_, err := c.GetLeaderboard(t.Context(), &huntv1.GetLeaderboardRequest{HuntId: huntID})
			return err
		},
		func(c huntv1.HuntServiceClient) error {
			_, err := c.GetPlayerProgress(t.Context(), &huntv1.GetPlayerProgressRequest{HuntId: huntID, PlayerId: player})
			return err
		},
	}
	for i, call := range calls {
		if err := call(first); status.Code(err) == codes.ResourceExhausted {
			t.Fatalf("call %d within the burst: %v", i, err)
		}
	}
	for i, call := range calls {
		if err := call(first); status.Code(err) != codes.ResourceExhausted {
			t.Errorf("call %d past the burst: %v, want ResourceExhausted", i, err)
		}
	}
	if err := calls[0](serve(t, app)); status.Code(err) == codes.ResourceExhausted {
		t.Errorf("another caller: %v, want served", err)
	}
}
