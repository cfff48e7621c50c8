package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers/hunt"
)

const huntUsage = "get HUNT | progress HUNT PLAYER | leaderboard HUNT [PLAYER] | watch PLAYER [HUNT] | hash ANSWER"

func runHunt(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		addr        string
		limit       uint
		timeout     time.Duration
		noReconnect bool
		creds       callerCredentials
		etcd        etcdConfig
	)
	fs := newFlagSet("hunt", "[flags] "+huntUsage,
		"Reads the workers' view of the game through HuntService and prints it as JSON:\n"+
			"  get HUNT                  the hunt's summary\n"+
			"  progress HUNT PLAYER      a player's progress: current clue, score, wait\n"+
			"  leaderboard HUNT [PLAYER] the top of the leaderboard, and the player's rank\n"+
			"  watch PLAYER [HUNT]       the player's new clues, judgements and completions\n"+
			"                            as they happen, one JSON line each, until Ctrl-C;\n"+
			"                            when the stream ends it reconnects (saying so on\n"+
			"                            stderr) and, given HUNT, prints the player's\n"+
			"                            progress ({\"progress\": …}) to catch up\n"+
			"  hash ANSWER               the answerSha256 of a text clue's answer, in base64\n\n"+
			"A player (--token) may ask only about themselves.",
		stderr)
	fs.StringVar(&addr, "gateway-addr", "127.0.0.1:50051", "gRPC address serving HuntService, or etcd:///worker")
	fs.UintVar(&limit, "limit", 10, "leaderboard entries to show")
	fs.DurationVar(&timeout, "timeout", 10*time.Second, "how long to wait for an answer; for watch, for each catch-up read")
	fs.BoolVar(&noReconnect, "no-reconnect", false, "watch: exit when the stream ends instead of reconnecting")
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
	switch {
	case !ok:
		return usageError{fmt.Errorf("unknown subcommand %q: want one of: %s", args[0], huntUsage)}
	case len(args)-1 < n[0] || len(args)-1 > n[1]:
		// The arguments are not echoed: one may be a secret meant for a flag.
		return usageError{fmt.Errorf("%s: got %d arguments; want one of: %s", args[0], len(args)-1, huntUsage)}
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
		w := watcher{client: client, player: arg(1), hunt: arg(2), reconnect: !noReconnect, timeout: timeout, stdout: stdout, stderr: stderr}
		if err := w.run(ctx); err != nil {
			return gatewayFailed(addr, conn, err)
		}
		return nil
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
		return gatewayFailed(addr, conn, err)
	}
	fmt.Fprintln(stdout, protojson.MarshalOptions{Multiline: true}.Format(resp))
	return nil
}

// watcher follows a player's WatchPlayer stream, reconnecting when it
// ends.
type watcher struct {
	client         huntv1.HuntServiceClient
	player, hunt   string
	reconnect      bool
	timeout        time.Duration
	stdout, stderr io.Writer
	// seen holds the latest event ids printed: after a reconnect the
	// stream may send an event again.
	seen []string
}

// Reconnection waits: from minWatchBackoff, doubling to maxWatchBackoff
// while the stream cannot be opened.
const (
	minWatchBackoff = 250 * time.Millisecond
	maxWatchBackoff = 8 * time.Second
)

// run prints the player's events until ctx ends (nil), the stream fails
// for good, or, with reconnect off, the stream ends.
func (w *watcher) run(ctx context.Context) error {
	connected := false // a stream was open once
	wait := minWatchBackoff
	for {
		opened, err := w.stream(ctx, connected)
		if ctx.Err() != nil {
			return nil // Ctrl-C
		}
		if opened {
			connected, wait = true, minWatchBackoff
		}
		// Before the first stream is open, a gateway that is not there is
		// an error to report, not one to wait out.
		if !w.reconnect || !connected || !retryable(err) {
			if err == nil {
				return errors.New("the stream ended; call again (without --no-reconnect, watch reconnects by itself)")
			}
			return err
		}
		why := "the stream ended"
		if err != nil {
			st := status.Convert(err)
			why = fmt.Sprintf("the stream ended: %s: %s", st.Code(), st.Message())
		}
		fmt.Fprintf(w.stderr, "cairn hunt watch: %s; reconnecting in %s\n", why, wait)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		wait = min(2*wait, maxWatchBackoff)
	}
}

// stream opens one WatchPlayer stream and prints its events until it
// ends. opened reports whether the stream was established; after a
// reconnect (catchUp), the player's progress is printed first.
func (w *watcher) stream(ctx context.Context, catchUp bool) (opened bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := w.client.WatchPlayer(ctx, &huntv1.WatchPlayerRequest{PlayerId: w.player, HuntId: w.hunt})
	if err != nil {
		return false, err
	}
	// The stream sees events from the moment its headers arrive.
	if _, err := stream.Header(); err != nil {
		return false, err
	}
	if catchUp {
		if err := w.catchUp(ctx); err != nil {
			return true, err
		}
	}
	for {
		ev, err := stream.Recv()
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return true, err
		}
		if slices.Contains(w.seen, ev.GetEventId()) {
			continue
		}
		if len(w.seen) == 256 {
			w.seen = w.seen[1:]
		}
		w.seen = append(w.seen, ev.GetEventId())
		b, err := protojson.Marshal(ev)
		if err != nil {
			return true, err
		}
		fmt.Fprintln(w.stdout, string(b))
	}
}

// catchUp tells the user what they may have missed while disconnected:
// with a hunt, the player's progress in it as one JSON line.
func (w *watcher) catchUp(ctx context.Context) error {
	if w.hunt == "" {
		fmt.Fprintln(w.stderr, "cairn hunt watch: reconnected; events while disconnected are not shown (give HUNT to catch up with the player's progress)")
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	resp, err := w.client.GetPlayerProgress(ctx, &huntv1.GetPlayerProgressRequest{HuntId: w.hunt, PlayerId: w.player})
	if err != nil {
		return err
	}
	b, err := protojson.Marshal(resp)
	if err != nil {
		return err
	}
	fmt.Fprintln(w.stderr, "cairn hunt watch: reconnected; the player's progress follows")
	fmt.Fprintln(w.stdout, string(b))
	return nil
}

// retryable reports whether a stream that ended with err may be opened
// again: the server went away or dropped a slow watcher, not a refusal.
func retryable(err error) bool {
	if err == nil {
		return true
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.ResourceExhausted, codes.DeadlineExceeded, codes.Aborted, codes.Internal, codes.Unknown:
		return true
	}
	return false
}
