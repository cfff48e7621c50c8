package bench

import (
	"cmp"
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// joinChunk is how many joins go in one PublishBatch while setting up.
const joinChunk = 100

// e2e plays a hunt: it creates one with Players players, subscribes to
// each player's WatchPlayer stream, then publishes answers at Rate, spread
// over the players, and measures from each Publish call until the answer's
// AnswerJudged arrives. Every answer is wrong (the clue's answer is
// nobody's guess), so the hunt never ends; after three wrong answers a
// player is rate limited, which the worker judges too.
func (r *runner) e2e(ctx context.Context) ([]*Result, error) {
	huntID, clueID := newUUID(), newUUID()
	players := make([]string, r.cfg.Players)
	for i := range players {
		players[i] = newUUID()
	}
	now := time.Now()
	secret := sha256.Sum256([]byte("cairn bench: nobody answers this"))
	if err := r.publishSetup(ctx, &huntv1.HuntCreated{
		HuntId: huntID,
		Title:  "cairn bench " + now.Format(time.RFC3339),
		Clues: []*huntv1.Clue{{
			ClueId:   clueID,
			Text:     "Which word is never guessed?",
			Points:   10,
			Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: secret[:]},
		}},
		StartsAt: timestamppb.New(now.Add(-time.Hour)),
		EndsAt:   timestamppb.New(now.Add(24 * time.Hour)),
	}); err != nil {
		return nil, err
	}

	w := &judgements{pending: make(map[string]time.Time), start: time.Now()}
	watchCtx, stopWatching := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer func() {
		stopWatching()
		watchers.Wait()
	}()
	var judged counters // watchers count apart from the answers' calls
	watchTallies := make([]*tally, len(players))
	for i, player := range players {
		stream, err := huntv1.NewHuntServiceClient(r.hunts[i%len(r.hunts)]).WatchPlayer(watchCtx, &huntv1.WatchPlayerRequest{PlayerId: player, HuntId: huntID})
		if err == nil {
			var md metadata.MD
			md, err = stream.Header() // sent once subscribed
			if err == nil && md == nil {
				// Ended without headers, as a call to a service not served
				// does: Recv says why.
				_, err = stream.Recv()
			}
		}
		if err != nil {
			stopWatching()
			if status.Code(err) == codes.Unimplemented {
				addr := cmp.Or(r.cfg.HuntAddr, r.cfg.GatewayAddr)
				return nil, fmt.Errorf("HuntService is not served at %s: e2e needs a hunt worker (cairn dev without --no-workers, or --hunt-addr at a cairn worker)", addr)
			}
			return nil, fmt.Errorf("watch player %s: %w", player, err)
		}
		t := newTally(&judged, nil)
		watchTallies[i] = t
		watchers.Go(func() { w.watch(watchCtx, stream, t) })
	}

	for chunk := range slices.Chunk(players, joinChunk) {
		joins := make([]proto.Message, len(chunk))
		for i, p := range chunk {
			joins[i] = &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: p, JoinedAt: timestamppb.New(now.Add(-time.Minute))}
		}
		if err := r.publishSetup(ctx, joins...); err != nil {
			return nil, err
		}
	}

	w.start = time.Now()
	published, err := r.measure(ctx, "gateway", func(ctx context.Context, i int, p *plan, t *tally) error {
		return r.answerCaller(ctx, i, p, t, w, huntID, clueID, players)
	})
	if err != nil {
		return nil, err
	}
	lost := w.wait(ctx, r.cfg.Timeout)
	stopWatching()
	watchers.Wait()

	res := &Result{Path: "judged", Errors: make(map[string]int64), Elapsed: w.last()}
	for _, t := range watchTallies {
		t.addTo(res)
	}
	res.Sent = published.Accepted
	switch {
	case lost > 0 && ctx.Err() != nil:
		res.Interrupted += int64(lost)
	case lost > 0:
		res.Errors["not judged"] += int64(lost)
	}
	return []*Result{published, res}, nil
}

// publishSetup publishes the hunt's setup events in one call, each of
// which must be accepted.
func (r *runner) publishSetup(ctx context.Context, msgs ...proto.Message) error {
	req := &gatewayv1.PublishBatchRequest{}
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			return fmt.Errorf("encode %T: %w", m, err)
		}
		req.Events = append(req.Events, &gatewayv1.Event{EventId: newUUID(), OccurredAt: timestamppb.Now(), Payload: a})
	}
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	resp, err := r.client(0).PublishBatch(ctx, req)
	if err != nil {
		st := status.Convert(err)
		return fmt.Errorf("set up the hunt: %s: %s", st.Code(), st.Message())
	}
	for _, res := range resp.GetResults() {
		if rej := res.GetRejected(); rej != nil {
			return fmt.Errorf("set up the hunt: event rejected: %s: %s", codes.Code(rej.GetCode()), rej.GetMessage())
		}
	}
	return nil
}

// answerCaller publishes wrong answers, one per call, for the players in
// turn.
func (r *runner) answerCaller(ctx context.Context, i int, p *plan, t *tally, w *judgements, huntID, clueID string, players []string) error {
	client := r.client(i)
	for {
		n, got := p.take(ctx, 1)
		if got == 0 {
			return nil
		}
		ev, err := answer(huntID, clueID, players[n%int64(len(players))])
		if err != nil {
			return err
		}
		id := ev.GetEventId()
		t.send(1)
		began := w.expect(id)
		cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		_, err = client.Publish(cctx, &gatewayv1.PublishRequest{Event: ev})
		cancel()
		if err != nil {
			w.forget(id)
			t.fail(status.Code(err).String(), 1)
			continue
		}
		t.accept(time.Since(began))
	}
}

// answer returns a wrong answer of player's to the hunt's clue.
func answer(huntID, clueID, player string) (*gatewayv1.Event, error) {
	now := timestamppb.Now()
	a, err := anypb.New(&huntv1.AnswerSubmitted{
		HuntId:      huntID,
		PlayerId:    player,
		ClueId:      clueID,
		Answer:      &huntv1.AnswerSubmitted_Text{Text: "wrong"},
		SubmittedAt: now,
	})
	if err != nil {
		return nil, fmt.Errorf("encode an answer: %w", err)
	}
	return &gatewayv1.Event{EventId: newUUID(), OccurredAt: now, Payload: a}, nil
}

// judgements matches answers with their judgements. It is safe for
// concurrent use.
type judgements struct {
	start    time.Time
	lastNano atomic.Int64 // since start, of the latest judgement

	mu      sync.Mutex
	pending map[string]time.Time // answer event id → when its Publish began
}

// expect notes an answer about to be published and returns the time its
// latency runs from.
func (j *judgements) expect(id string) time.Time {
	now := time.Now()
	j.mu.Lock()
	j.pending[id] = now
	j.mu.Unlock()
	return now
}

func (j *judgements) forget(id string) {
	j.mu.Lock()
	delete(j.pending, id)
	j.mu.Unlock()
}

// watch reads one player's stream until it ends, timing each judgement of
// an answer the bench sent.
func (j *judgements) watch(ctx context.Context, stream interface {
	Recv() (*huntv1.WatchPlayerResponse, error)
}, t *tally) {
	for {
		resp, err := stream.Recv()
		if err != nil {
			if ctx.Err() == nil {
				t.errors["watch ended: "+status.Code(err).String()]++
			}
			return
		}
		id := resp.GetAnswerJudged().GetAnswerEventId()
		if id == "" {
			continue
		}
		now := time.Now()
		j.mu.Lock()
		began, ok := j.pending[id]
		delete(j.pending, id)
		j.mu.Unlock()
		if ok {
			t.accept(now.Sub(began))
			j.lastNano.Store(int64(now.Sub(j.start)))
		}
	}
}

// wait waits until every accepted answer is judged, or for at most
// timeout, and returns how many were not.
func (j *judgements) wait(ctx context.Context, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		j.mu.Lock()
		left := len(j.pending)
		j.mu.Unlock()
		if left == 0 || time.Now().After(deadline) {
			return left
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return left
		}
	}
}

// last returns when the latest judgement arrived, since the answers began.
func (j *judgements) last() time.Duration { return time.Duration(j.lastNano.Load()) }
