package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

const huntUsage = "get HUNT | progress HUNT PLAYER | leaderboard HUNT [PLAYER] | watch PLAYER [HUNT] | hash ANSWER"

func runHunt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		addr    string
		limit   uint
		timeout time.Duration
		creds   callerCredentials
		etcd    etcdConfig
	)
	fs := newFlagSet("hunt", "[flags] "+huntUsage,
		"Reads the workers' view of the game through HuntService and prints it as JSON:\n"+
			"  get HUNT                  the hunt's summary\n"+
			"  progress HUNT PLAYER      a player's progress: current clue, score, wait\n"+
			"  leaderboard HUNT [PLAYER] the top of the leaderboard, and the player's rank\n"+
			"  watch PLAYER [HUNT]       the player's new clues, judgements and completions\n"+
			"                            as they happen, one JSON line each, until Ctrl-C\n"+
			"  hash ANSWER               the answerSha256 of a text clue's answer, in base64\n\n"+
			"A player (--token) may ask only about themselves.",
		stderr)
	fs.StringVar(&addr, "gateway-addr", "127.0.0.1:50051", "gRPC address serving HuntService, or etcd:///worker")
	fs.UintVar(&limit, "limit", 10, "leaderboard entries to show")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for an answer (not for watch)")
	creds.register(fs)
	etcd.registerClient(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := creds.check(fs); err != nil {
		return usageError{err}
	}
	if err := etcd.checkTarget("gateway-addr", addr); err != nil {
		return usageError{err}
	}
	args = fs.Args()
	want := map[string][2]int{"get": {1, 1}, "progress": {2, 2}, "leaderboard": {1, 2}, "watch": {1, 2}, "hash": {1, 1}}
	if len(args) == 0 {
		return usageError{errors.New("want one of: " + huntUsage)}
	}
	n, ok := want[args[0]]
	if !ok || len(args)-1 < n[0] || len(args)-1 > n[1] {
		return usageError{fmt.Errorf("%q: want one of: %s", args, huntUsage)}
	}
	if args[0] == "hash" {
		fmt.Fprintln(stdout, base64.StdEncoding.EncodeToString(hunt.AnswerSHA256(args[1])))
		return nil
	}
	disc, err := etcd.client(slog.Default())
	if err != nil {
		return err
	}
	defer disc.Close()
	conn, err := disc.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("gateway %s: %w", addr, err)
	}
	defer conn.Close()
	client := huntv1.NewHuntServiceClient(conn)
	if md := creds.metadata(); md != nil {
		ctx = metadata.AppendToOutgoingContext(ctx, md...)
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	if args[0] == "watch" {
		return watchPlayer(ctx, client, arg(1), arg(2), stdout)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var resp proto.Message
	switch args[0] {
	case "get":
		resp, err = client.GetHunt(ctx, &huntv1.GetHuntRequest{HuntId: arg(1)})
	case "progress":
		resp, err = client.GetPlayerProgress(ctx, &huntv1.GetPlayerProgressRequest{HuntId: arg(1), PlayerId: arg(2)})
	case "leaderboard":
		resp, err = client.GetLeaderboard(ctx, &huntv1.GetLeaderboardRequest{HuntId: arg(1), PlayerId: arg(2), Limit: uint32(min(limit, 1000))})
	}
	if err != nil {
		return rejected(err)
	}
	fmt.Fprintln(stdout, protojson.MarshalOptions{Multiline: true}.Format(resp))
	return nil
}

func watchPlayer(ctx context.Context, client huntv1.HuntServiceClient, player, hunt string, stdout io.Writer) error {
	stream, err := client.WatchPlayer(ctx, &huntv1.WatchPlayerRequest{PlayerId: player, HuntId: hunt})
	if err != nil {
		return rejected(err)
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return rejected(err)
		}
		b, err := protojson.Marshal(ev)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, string(b))
	}
}
