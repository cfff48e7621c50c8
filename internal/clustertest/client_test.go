package clustertest_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// dial connects to a cairn role over loopback, presenting the suite's API key.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return invoker(metadata.AppendToOutgoingContext(ctx, "x-api-key", apiKey), method, req, reply, cc, opts...)
		}),
		grpc.WithStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			return streamer(metadata.AppendToOutgoingContext(ctx, "x-api-key", apiKey), desc, cc, method, opts...)
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func gatewayClient(t *testing.T, addr string) gatewayv1.EventGatewayClient {
	return gatewayv1.NewEventGatewayClient(dial(t, addr))
}

func huntClient(t *testing.T, addr string) huntv1.HuntServiceClient {
	return huntv1.NewHuntServiceClient(dial(t, addr))
}

// newID returns a random version 4 UUID.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// event wraps a payload for the gateway.
func event(t testing.TB, id string, m proto.Message) *gatewayv1.Event {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return &gatewayv1.Event{EventId: id, OccurredAt: timestamppb.Now(), Payload: a}
}

// publish sends one event and fails the test unless it is accepted.
func publish(t *testing.T, gw gatewayv1.EventGatewayClient, m proto.Message) *gatewayv1.PublishResponse {
	t.Helper()
	resp, err := publishRetrying(t.Context(), gw, event(t, newID(), m), 60*time.Second)
	if err != nil {
		t.Fatalf("publish %T: %v", m, err)
	}
	return resp
}

// publishRetrying publishes ev, retrying with the same event id while the
// gateway answers UNAVAILABLE, for up to patience.
func publishRetrying(ctx context.Context, gw gatewayv1.EventGatewayClient, ev *gatewayv1.Event, patience time.Duration) (*gatewayv1.PublishResponse, error) {
	deadline := time.Now().Add(patience)
	for {
		callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := gw.Publish(callCtx, &gatewayv1.PublishRequest{Event: ev})
		cancel()
		if err == nil || status.Code(err) != codes.Unavailable || time.Now().After(deadline) {
			return resp, err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// eventually retries f until it succeeds or 90 seconds pass.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// huntStart is when the suite's hunts open, half an hour before the suite
// runs, so that they are open by the gateway's clock, which the game judges
// by; at gives minutes after it, for the times clients claim.
var huntStart = time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)

func at(minutes float64) *timestamppb.Timestamp {
	return timestamppb.New(huntStart.Add(time.Duration(minutes * float64(time.Minute))))
}

func answerHash(text string) []byte {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(text))))
	return sum[:]
}

// newHunt is a hunt of three text clues worth 10, 20 and 30 points, open
// for an hour; the answers are "oak", "river" and "bell".
func newHunt(huntID string) (*huntv1.HuntCreated, [3]string) {
	h := &huntv1.HuntCreated{HuntId: huntID, Title: "Old town " + huntID[:8], StartsAt: at(0), EndsAt: at(60)}
	var clues [3]string
	for i, a := range []string{"oak", "river", "bell"} {
		clues[i] = newID()
		h.Clues = append(h.Clues, &huntv1.Clue{
			ClueId: clues[i], Text: fmt.Sprintf("clue %d", i+1), Points: uint32(10 * (i + 1)),
			Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: answerHash(a)},
		})
	}
	return h, clues
}

func answer(huntID, playerID, clueID, text string, minutes float64) *huntv1.AnswerSubmitted {
	return &huntv1.AnswerSubmitted{HuntId: huntID, PlayerId: playerID, ClueId: clueID,
		Answer: &huntv1.AnswerSubmitted_Text{Text: text}, SubmittedAt: at(minutes)}
}

// load is a run of PublishBatch calls from several senders, each batch
// retried with the same event ids until every event in it is accepted.
type load struct {
	gw        gatewayv1.EventGatewayClient
	batch     int           // events per call
	senders   int           // concurrent callers
	perSecond int           // events per second offered, all senders together
	deadline  time.Duration // each call's deadline
	patience  time.Duration // how long a batch is retried before the load gives up

	mu          sync.Mutex
	acked       map[string]*gatewayv1.Accepted
	unavailable int           // events answered UNAVAILABLE (each answer counted)
	failedCalls int           // whole calls that failed with UNAVAILABLE or DEADLINE_EXCEEDED
	slowestFail time.Duration // the longest a failed call took
	other       []string      // any other failure: the test fails
	firstFail   time.Time
	lastFail    time.Time
}

// run publishes events in order of batches, paced at perSecond, and returns
// when every one is accepted, or patience ran out for some batch.
func (l *load) run(ctx context.Context, events []*gatewayv1.Event, progress func(acked int)) {
	l.acked = make(map[string]*gatewayv1.Accepted, len(events))
	batches := make(chan []*gatewayv1.Event)
	var wg sync.WaitGroup
	for range l.senders {
		wg.Go(func() {
			for b := range batches {
				l.send(ctx, b)
				if progress != nil {
					l.mu.Lock()
					n := len(l.acked)
					l.mu.Unlock()
					progress(n)
				}
			}
		})
	}
	interval := time.Duration(float64(time.Second) * float64(l.batch) / float64(l.perSecond))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for i := 0; i < len(events) && ctx.Err() == nil; i += l.batch {
		batches <- events[i:min(i+l.batch, len(events))]
		select {
		case <-tick.C:
		case <-ctx.Done():
		}
	}
	close(batches)
	wg.Wait()
}

func (l *load) send(ctx context.Context, batch []*gatewayv1.Event) {
	give := time.Now().Add(l.patience)
	for len(batch) > 0 && ctx.Err() == nil {
		callCtx, cancel := context.WithTimeout(ctx, l.deadline)
		t0 := time.Now()
		resp, err := l.gw.PublishBatch(callCtx, &gatewayv1.PublishBatchRequest{Events: batch})
		took := time.Since(t0)
		cancel()
		var retry []*gatewayv1.Event
		l.mu.Lock()
		switch {
		case err != nil && (status.Code(err) == codes.Unavailable || status.Code(err) == codes.DeadlineExceeded):
			l.failedCalls++
			l.unavailable += len(batch)
			l.noteFail(took)
			retry = batch
		case err != nil:
			l.other = append(l.other, err.Error())
		default:
			byID := make(map[string]*gatewayv1.Event, len(batch))
			for _, ev := range batch {
				byID[ev.GetEventId()] = ev
			}
			for _, r := range resp.GetResults() {
				switch {
				case r.GetAccepted() != nil:
					l.acked[r.GetEventId()] = r.GetAccepted()
				case r.GetRejected().GetCode() == int32(codes.Unavailable):
					l.unavailable++
					l.noteFail(took)
					retry = append(retry, byID[r.GetEventId()])
				default:
					l.other = append(l.other, fmt.Sprintf("%s: %d %s", r.GetEventId(), r.GetRejected().GetCode(), r.GetRejected().GetMessage()))
				}
			}
		}
		l.mu.Unlock()
		batch = retry
		if len(batch) > 0 {
			if time.Now().After(give) {
				l.mu.Lock()
				l.other = append(l.other, fmt.Sprintf("%d events still unavailable after %v", len(batch), l.patience))
				l.mu.Unlock()
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
}

func (l *load) noteFail(took time.Duration) {
	now := time.Now()
	if l.firstFail.IsZero() {
		l.firstFail = now
	}
	l.lastFail = now
	l.slowestFail = max(l.slowestFail, took)
}

// checkExactlyOnce checks that every acknowledged event is in Kafka once,
// where the gateway said, and returns how many records the events' topics
// hold for the event ids of want.
func checkExactlyOnce(t *testing.T, acked map[string]*gatewayv1.Accepted, records []record) (found int) {
	t.Helper()
	count := make(map[string]int)
	where := make(map[string]record)
	for _, r := range records {
		if _, ok := acked[r.eventID]; ok {
			count[r.eventID]++
			where[r.eventID] = r
		}
	}
	var missing, dup, moved int
	for id, acc := range acked {
		switch n := count[id]; {
		case n == 0:
			missing++
		case n > 1:
			dup++
		default:
			if r := where[id]; r.topic != acc.GetTopic() || r.partition != acc.GetPartition() || r.offset != acc.GetOffset() {
				moved++
			}
		}
		found += count[id]
	}
	if missing+dup+moved > 0 {
		t.Errorf("of %d acknowledged events, %d are not in Kafka, %d are there more than once, %d are not where the gateway said", len(acked), missing, dup, moved)
	}
	return found
}

// checkAtLeastOnce checks that every acknowledged event is in Kafka, and
// returns how many records hold those events and how many events are there
// more than once.
func checkAtLeastOnce(t *testing.T, acked map[string]*gatewayv1.Accepted, records []record) (found, dups int) {
	t.Helper()
	count := make(map[string]int)
	for _, r := range records {
		if _, ok := acked[r.eventID]; ok {
			count[r.eventID]++
			found++
		}
	}
	missing := 0
	for id := range acked {
		switch n := count[id]; {
		case n == 0:
			missing++
		case n > 1:
			dups++
		}
	}
	if missing > 0 {
		t.Errorf("of %d acknowledged events, %d are not in Kafka", len(acked), missing)
	}
	return found, dups
}
