package gateway

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/internal/auth"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// PublishStream implements gatewayv1.EventGatewayServer.
//
// A reader goroutine takes a window slot, then receives an event, checks it
// and hands it to Kafka in the order received; one waiter goroutine takes
// the events in that order and waits for each one's answer, and the
// handler sends each result and frees its slot. Kafka answers a
// partition's records in order, so waiting in receive order costs little;
// each event still gets its own answer. With every slot taken the reader
// stops receiving, so gRPC
// flow control holds the client back: a slow Kafka slows the client instead
// of growing the gateway's memory. On Shutdown the stream stops reading,
// answers the events in flight and ends with UNAVAILABLE.
func (s *Server) PublishStream(stream grpc.BidiStreamingServer[gatewayv1.PublishStreamRequest, gatewayv1.PublishStreamResponse]) error {
	const method = "PublishStream"
	ctx := stream.Context()
	p, err := s.authenticate(ctx)
	if err != nil {
		st := s.status(s.cfg.Logger.With("method", method), err)
		s.metrics.requests.WithLabelValues(method, st.Code().String()).Inc()
		return st.Err()
	}
	st := s.serveStream(stream, p)
	s.metrics.callDone(method, st.Code())
	return st.Err()
}

// streamState is what the reader and the handler share.
type streamState struct {
	slots   chan struct{}               // one per event in flight, taken before Recv
	results chan *gatewayv1.EventResult // as many as slots: senders never block
	begun   chan *pendingEvent          // events handed to Kafka, in receive order; as many as slots
	readErr chan error                  // the reader's end: io.EOF when the client closed
	mu      sync.Mutex
	stopped bool // no more events are started
	pending sync.WaitGroup
}

func (s *Server) serveStream(stream grpc.BidiStreamingServer[gatewayv1.PublishStreamRequest, gatewayv1.PublishStreamResponse], p *auth.Principal) *status.Status {
	ss := &streamState{
		slots:   make(chan struct{}, s.cfg.StreamWindow),
		results: make(chan *gatewayv1.EventResult, s.cfg.StreamWindow),
		readErr: make(chan error, 1),
		begun:   make(chan *pendingEvent, s.cfg.StreamWindow),
	}
	go s.readStream(stream, p, ss)
	go s.awaitStream(stream.Context(), ss)

	send := func(r *gatewayv1.EventResult) error {
		<-ss.slots
		return stream.Send(&gatewayv1.PublishStreamResponse{Result: r})
	}
	stop := func() {
		ss.mu.Lock()
		ss.stopped = true
		ss.mu.Unlock()
	}
	// finish stops the reader from starting events, waits for those in
	// flight and sends their results.
	finish := func() error {
		stop()
		ss.pending.Wait()
		for {
			select {
			case r := <-ss.results:
				if err := send(r); err != nil {
					return err
				}
			default:
				return nil
			}
		}
	}
	log := s.cfg.Logger.With("method", "PublishStream", "principal", p.ID)
	// A stream lives no longer than the credentials it was opened with.
	var expired <-chan time.Time
	if !p.Expires.IsZero() {
		t := time.NewTimer(time.Until(p.Expires))
		defer t.Stop()
		expired = t.C
	}
	for {
		select {
		case <-expired:
			if err := finish(); err != nil {
				return s.status(log, err)
			}
			return status.New(codes.Unauthenticated, "the token this stream was opened with has expired; open a new stream with a fresh token")
		case r := <-ss.results:
			if err := send(r); err != nil {
				stop() // the client is gone: events in flight finish unanswered
				ss.pending.Wait()
				return s.status(log, err)
			}
		case err := <-ss.readErr:
			if ferr := finish(); ferr != nil {
				return s.status(log, ferr)
			}
			if errors.Is(err, io.EOF) {
				return nil
			}
			if st, ok := status.FromError(err); ok {
				return st
			}
			return s.status(log, err)
		case <-s.draining:
			if err := finish(); err != nil {
				return s.status(log, err)
			}
			return s.status(log, errDraining)
		}
	}
}

// readStream receives events until the stream ends or the handler stops
// it, and starts each event's publication. It closes ss.begun when it
// returns, which ends awaitStream.
func (s *Server) readStream(stream grpc.BidiStreamingServer[gatewayv1.PublishStreamRequest, gatewayv1.PublishStreamResponse], p *auth.Principal, ss *streamState) {
	defer close(ss.begun)
	ctx := stream.Context()
	traced := s.callTraced(ctx) // a stream's metadata is fixed when it opens
	for {
		select {
		case ss.slots <- struct{}{}:
		case <-ctx.Done():
			ss.readErr <- ctx.Err()
			return
		}
		req, err := stream.Recv()
		if err != nil {
			ss.readErr <- err
			return
		}
		ss.mu.Lock()
		if ss.stopped {
			ss.mu.Unlock()
			return // the handler is gone or going: the event gets no result
		}
		ss.pending.Add(1)
		ss.mu.Unlock()
		// Begin in receive order, so that events with one key reach Kafka
		// in the order the client sent them; awaitStream waits for Kafka
		// while the next events are read.
		ss.begun <- s.begin(ctx, p, traced, req.GetEvent())
	}
}

// awaitStream waits for each begun event's outcome, in the order the
// events were begun, and queues its result, until readStream closes
// ss.begun.
func (s *Server) awaitStream(ctx context.Context, ss *streamState) {
	for pe := range ss.begun {
		acc, st := s.end(ctx, pe)
		ss.results <- result(pe.ev, acc, st)
		ss.pending.Done()
	}
}
