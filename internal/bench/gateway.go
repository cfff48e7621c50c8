package bench

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// gatewayLoad returns the mode's load through the gateway.
func (r *runner) gatewayLoad() load {
	switch r.cfg.Mode {
	case Batch:
		return r.batchCaller
	case Stream:
		return r.streamCaller
	}
	return r.unaryCaller
}

// unaryCaller publishes one event per call and waits for its answer.
func (r *runner) unaryCaller(ctx context.Context, i int, p *plan, t *tally) error {
	client := r.client(i)
	for {
		n, got := p.take(ctx, 1)
		if got == 0 {
			return nil
		}
		req := &gatewayv1.PublishRequest{Event: r.src.event(n)}
		t.send(1)
		cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		began := time.Now()
		_, err := client.Publish(cctx, req)
		took := time.Since(began)
		cancel()
		if err != nil {
			t.fail(status.Code(err).String(), 1)
			continue
		}
		t.accept(took)
	}
}

// batchCaller publishes BatchSize events per call; each event's latency is
// its call's.
func (r *runner) batchCaller(ctx context.Context, i int, p *plan, t *tally) error {
	client := r.client(i)
	for {
		first, got := p.take(ctx, r.cfg.BatchSize)
		if got == 0 {
			return nil
		}
		req := &gatewayv1.PublishBatchRequest{Events: make([]*gatewayv1.Event, got)}
		for j := range req.Events {
			req.Events[j] = r.src.event(first + int64(j))
		}
		t.send(got)
		cctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
		began := time.Now()
		resp, err := client.PublishBatch(cctx, req)
		took := time.Since(began)
		cancel()
		if err != nil {
			t.fail(status.Code(err).String(), got)
			continue
		}
		for _, res := range resp.GetResults() {
			t.outcome(res, took)
		}
		if missing := got - len(resp.GetResults()); missing > 0 {
			t.fail("no result", missing)
		}
	}
}

// outcome records an event's result in a batch or stream.
func (t *tally) outcome(res *gatewayv1.EventResult, took time.Duration) {
	if rej := res.GetRejected(); rej != nil {
		t.fail(codes.Code(rej.GetCode()).String(), 1)
		return
	}
	t.accept(took)
}

// streamCaller keeps Window events in flight on one stream: it sends while
// the window has room, and each result frees a place.
func (r *runner) streamCaller(ctx context.Context, i int, p *plan, t *tally) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := r.client(i).PublishStream(ctx)
	if err != nil {
		return err
	}
	var (
		mu     sync.Mutex
		sentAt = make(map[string]time.Time, r.cfg.Window)
		window = make(chan struct{}, r.cfg.Window)
		done   = make(chan struct{})
		end    error // why the stream ended, once done is closed
	)
	// The receiver owns t's outcomes until done is closed.
	go func() {
		defer close(done)
		for {
			resp, err := stream.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					end = err
				}
				return
			}
			res := resp.GetResult()
			mu.Lock()
			began, ok := sentAt[res.GetEventId()]
			delete(sentAt, res.GetEventId())
			mu.Unlock()
			if !ok {
				t.fail("unexpected result", 1)
				continue
			}
			t.outcome(res, time.Since(began))
			<-window
		}
	}()
send:
	for {
		n, got := p.take(ctx, 1)
		if got == 0 {
			break
		}
		select {
		case window <- struct{}{}:
		case <-done:
			break send
		}
		ev := r.src.event(n)
		mu.Lock()
		sentAt[ev.GetEventId()] = time.Now()
		mu.Unlock()
		t.send(1)
		if err := stream.Send(&gatewayv1.PublishStreamRequest{Event: ev}); err != nil {
			break // Recv says why
		}
	}
	_ = stream.CloseSend()
	select {
	case <-done:
	case <-time.After(r.cfg.Timeout):
		cancel()
		<-done
	}
	if lost := len(sentAt); lost > 0 {
		reason := "no result"
		if end != nil {
			reason = status.Code(end).String()
		}
		t.fail(reason, lost)
	}
	return nil
}
