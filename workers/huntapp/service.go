package huntapp

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"buf.build/go/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/sqldb"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

// huntService serves cairn.hunt.v1.HuntService from the hunt tables. It is
// safe for concurrent use.
type huntService struct {
	huntv1.UnimplementedHuntServiceServer

	db        *sqldb.DB
	hub       *hub
	log       *slog.Logger
	validator protovalidate.Validator
	limit     *readLimiter
}

// HuntService returns the cairn.hunt.v1.HuntService server reading the
// app's tables, to register on a *grpc.Server. Its WatchPlayer streams
// start once Follow follows the derived events, and end when it returns.
func (a *App) HuntService() huntv1.HuntServiceServer {
	return &huntService{db: a.cfg.DB, hub: a.hub, log: a.cfg.Logger, validator: a.cfg.Validator, limit: a.limit}
}

// defaultLimit is the leaderboard's length when the request gives none.
const defaultLimit = 10

// check validates a request. It returns a status error.
func (s *huntService) check(req proto.Message) error {
	if err := s.validator.Validate(req); err != nil {
		var verr *protovalidate.ValidationError
		if errors.As(err, &verr) {
			st, derr := status.New(codes.InvalidArgument, verr.Error()).WithDetails(verr.ToProto())
			if derr == nil {
				return st.Err()
			}
		}
		return status.Error(codes.InvalidArgument, err.Error())
	}
	return nil
}

// fail maps a store or rules error to a status. Internal errors are logged,
// never sent.
func (s *huntService) fail(ctx context.Context, method string, err error) error {
	switch {
	case errors.Is(err, hunt.ErrUnknownHunt), errors.Is(err, hunt.ErrNotJoined):
		return status.Error(codes.NotFound, err.Error())
	case ctx.Err() != nil:
		return status.FromContextError(ctx.Err()).Err()
	}
	s.log.Error("HuntService."+method, "error", err)
	return status.Error(codes.Unavailable, "the hunt store is unavailable; try again")
}

// GetHunt implements huntv1.HuntServiceServer.
func (s *huntService) GetHunt(ctx context.Context, req *huntv1.GetHuntRequest) (*huntv1.GetHuntResponse, error) {
	if err := s.limit.allow(ctx, "GetHunt"); err != nil {
		return nil, err
	}
	if err := s.check(req); err != nil {
		return nil, err
	}
	sum, err := readSummary(ctx, s.db, req.GetHuntId())
	if err != nil {
		return nil, s.fail(ctx, "GetHunt", err)
	}
	return &huntv1.GetHuntResponse{Hunt: &huntv1.HuntSummary{
		HuntId:         sum.HuntID,
		Title:          sum.Title,
		ClueCount:      uint32(sum.Clues),
		TotalPoints:    sum.Points,
		StartsAt:       timestamp(sum.StartsAt),
		EndsAt:         timestamp(sum.EndsAt),
		MaxPlayers:     sum.MaxPlayers,
		PlayerCount:    uint32(sum.Players),
		CompletedCount: uint32(sum.Completed),
	}}, nil
}

// GetPlayerProgress implements huntv1.HuntServiceServer.
func (s *huntService) GetPlayerProgress(ctx context.Context, req *huntv1.GetPlayerProgressRequest) (*huntv1.GetPlayerProgressResponse, error) {
	if err := s.limit.allow(ctx, "GetPlayerProgress"); err != nil {
		return nil, err
	}
	if err := s.check(req); err != nil {
		return nil, err
	}
	pr, err := readProgress(ctx, s.db, req.GetHuntId(), req.GetPlayerId())
	if err != nil {
		return nil, s.fail(ctx, "GetPlayerProgress", err)
	}
	out := &huntv1.PlayerProgress{
		HuntId:      pr.HuntID,
		PlayerId:    pr.PlayerID,
		DisplayName: pr.DisplayName,
		JoinedAt:    timestamp(pr.JoinedAt),
		Position:    uint32(pr.Position),
		ClueCount:   uint32(pr.Clues),
		Score:       pr.Score,
		WrongStreak: uint32(pr.WrongStreak),
		RetryAt:     timestamp(pr.RetryAt),
		Completed:   pr.Completed,
		CompletedAt: timestamp(pr.CompletedAt),
		Refusals:    pr.refusals,
	}
	if pr.joined && !pr.Completed {
		out.CurrentClue = &huntv1.CurrentClue{ClueId: pr.ClueID, Text: pr.ClueText, Points: pr.CluePoints}
	}
	return &huntv1.GetPlayerProgressResponse{Progress: out}, nil
}

// GetLeaderboard implements huntv1.HuntServiceServer.
func (s *huntService) GetLeaderboard(ctx context.Context, req *huntv1.GetLeaderboardRequest) (*huntv1.GetLeaderboardResponse, error) {
	if err := s.limit.allow(ctx, "GetLeaderboard"); err != nil {
		return nil, err
	}
	if err := s.check(req); err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = defaultLimit
	}
	lb, err := readLeaderboard(ctx, s.db, req.GetHuntId(), limit, req.GetPlayerId())
	if err != nil {
		return nil, s.fail(ctx, "GetLeaderboard", err)
	}
	out := &huntv1.GetLeaderboardResponse{HuntId: lb.HuntID, PlayerCount: uint32(lb.Players)}
	for _, sd := range lb.Top {
		out.Top = append(out.Top, standingOf(sd))
	}
	if lb.Own != nil {
		out.Own = standingOf(*lb.Own)
	}
	return out, nil
}

func standingOf(sd hunt.Standing) *huntv1.Standing {
	return &huntv1.Standing{
		Rank:        uint32(sd.Rank),
		PlayerId:    sd.PlayerID,
		DisplayName: sd.DisplayName,
		Score:       sd.Score,
		Completed:   sd.Completed,
		CompletedAt: timestamp(sd.CompletedAt),
	}
}

// timestamp converts t, leaving the zero time unset.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// WatchPlayer implements huntv1.HuntServiceServer. The response headers are
// sent once the stream is subscribed: events produced after they arrive
// are delivered.
func (s *huntService) WatchPlayer(req *huntv1.WatchPlayerRequest, stream grpc.ServerStreamingServer[huntv1.WatchPlayerResponse]) error {
	if err := s.check(req); err != nil {
		return err
	}
	ctx := stream.Context()
	// Start once the feed follows the derived topic, so that the headers
	// promise what they say: everything derived from now on arrives.
	select {
	case <-s.hub.live:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	case <-s.hub.closing:
		return status.Error(codes.Unavailable, "the worker is stopping; call WatchPlayer again and read GetPlayerProgress to catch up")
	}
	w := s.hub.subscribe(req.GetPlayerId(), req.GetHuntId())
	defer s.hub.unsubscribe(w)
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-w.gone:
			return status.Error(codes.ResourceExhausted, "the stream fell too far behind; call WatchPlayer again and read GetPlayerProgress to catch up")
		case <-s.hub.closing:
			return status.Error(codes.Unavailable, "the worker is stopping; call WatchPlayer again and read GetPlayerProgress to catch up")
		case resp := <-w.ch:
			if err := stream.Send(resp); err != nil {
				return err
			}
		}
	}
}
