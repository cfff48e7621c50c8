// Package bench drives load against a running Cairn gateway from its own
// process, as clients do, and measures it: events per second, latency
// percentiles and errors by gRPC code. It can run the same load straight
// to Kafka, with the gateway's producer settings and record framing, so
// that the gateway's rate can be read as a fraction of what the Kafka
// client alone achieves on the same machine.
//
// Run is the entry point; WriteTable prints its Report.
package bench

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// Report is the outcome of a run.
type Report struct {
	// Config is the run's configuration, defaults filled in.
	Config Config
	// EventBytes is the encoded size of one event envelope (for e2e, of
	// one answer).
	EventBytes int
	// Results holds one row per path measured: the gateway's first, then
	// direct Kafka's or, for e2e, the judgements'.
	Results []*Result
	// Interrupted says the run was cut short (Run's context ended): the
	// results cover it until then, and a direct run that had not started
	// is left out.
	Interrupted bool
}

// Result is what one path measured.
type Result struct {
	// Path names what was measured: "gateway", "direct" or "judged".
	Path string
	// Sent is how many events were sent.
	Sent int64
	// Accepted is how many the gateway (or Kafka) acknowledged, or, for
	// the judged row, how many judgements arrived.
	Accepted int64
	// Errors counts the events that failed, by gRPC code name (or, for
	// direct Kafka, by error).
	Errors map[string]int64
	// Interrupted counts the events sent but not answered when the run
	// was interrupted (Run's context ended): neither accepted nor failed.
	Interrupted int64
	// Elapsed runs from the first send to the last answer.
	Elapsed time.Duration
	// Latency holds each accepted event's latency.
	Latency Histogram
	// CPU is the time (user and system) this process spent on the
	// machine's cores while the path ran: the load generator's own share,
	// which on a shared machine the path under test does not get. Zero
	// when not measured.
	CPU time.Duration
}

// Failed returns how many events failed.
func (r *Result) Failed() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// CPUPerEvent returns CPU per accepted event, or 0.
func (r *Result) CPUPerEvent() time.Duration {
	if r.Accepted == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Accepted)
}

// Rate returns the accepted events per second.
func (r *Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Accepted) / r.Elapsed.Seconds()
}

// Run drives cfg's load and reports what it measured. It fails without
// sending anything when the gateway is unreachable or refuses a first
// probe event.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	conns, err := dial(ctx, cfg, "gateway", cfg.GatewayAddr)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)
	hunts := conns
	if cfg.HuntAddr != "" && cfg.HuntAddr != cfg.GatewayAddr {
		if hunts, err = dial(ctx, cfg, "HuntService", cfg.HuntAddr); err != nil {
			return nil, err
		}
		defer closeAll(hunts)
	}
	if len(cfg.Metadata) > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, cfg.Metadata...)
	}
	src, err := newPlayerEvents(1024)
	if err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, conns: conns, hunts: hunts, src: src}
	rep := &Report{Config: cfg, EventBytes: proto.Size(r.src.event(0))}
	probe, err := r.probe(ctx)
	if err != nil {
		return nil, err
	}
	if cfg.Mode == E2E {
		sample, err := answer(newUUID(), newUUID(), newUUID())
		if err != nil {
			return nil, err
		}
		rep.EventBytes = proto.Size(sample)
		res, err := r.e2e(ctx)
		if err != nil {
			return nil, err
		}
		rep.Results = res
		rep.Interrupted = ctx.Err() != nil
		return rep, nil
	}
	if cfg.Direct {
		if err := r.checkDirect(ctx); err != nil {
			return nil, err
		}
	}
	gw, err := r.measure(ctx, "gateway", r.gatewayLoad())
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, gw)
	if cfg.Direct && ctx.Err() == nil {
		d, err := r.direct(ctx, probe)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, d)
	}
	rep.Interrupted = ctx.Err() != nil
	return rep, nil
}

// dial opens the connections to what (the gateway or HuntService) at
// addr, and waits until the first is ready, so that an unreachable one is
// reported as such before any load starts.
func dial(ctx context.Context, cfg Config, what, addr string) ([]*grpc.ClientConn, error) {
	conns := make([]*grpc.ClientConn, 0, cfg.Connections)
	dialer := cfg.Dial
	if dialer == nil {
		dialer = grpc.NewClient
	}
	for range cfg.Connections {
		c, err := dialer(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("%s %s: %w", what, addr, err)
		}
		conns = append(conns, c)
	}
	wait, cancel := context.WithTimeout(ctx, min(cfg.Timeout, 5*time.Second))
	defer cancel()
	for _, c := range conns {
		c.Connect()
		for s := c.GetState(); s != connectivity.Ready; s = c.GetState() {
			if s == connectivity.TransientFailure || !c.WaitForStateChange(wait, s) {
				closeAll(conns)
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				return nil, fmt.Errorf("%s unreachable at %s (is `cairn dev` running?)", what, addr)
			}
		}
	}
	return conns, nil
}

// closeAll closes connections.
func closeAll(conns []*grpc.ClientConn) {
	for _, c := range conns {
		c.Close()
	}
}

// runner holds what one run's loads share.
type runner struct {
	cfg   Config
	conns []*grpc.ClientConn // to the gateway
	hunts []*grpc.ClientConn // to HuntService: conns unless HuntAddr differs
	src   *playerEvents

	live counters // of the load under way, for the progress line
}

// counters are a load's live counts. They are safe for concurrent use.
type counters struct {
	sent, accepted, failed atomic.Int64
}

// client returns caller i's gateway client, spreading callers over the
// connections.
func (r *runner) client(i int) gatewayv1.EventGatewayClient {
	return gatewayv1.NewEventGatewayClient(r.conns[i%len(r.conns)])
}

// probe publishes one event to check the credentials and learn where the
// gateway puts the bench's events.
func (r *runner) probe(ctx context.Context) (*gatewayv1.PublishResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	resp, err := r.client(0).Publish(ctx, &gatewayv1.PublishRequest{Event: r.src.event(0)})
	if err != nil {
		st := status.Convert(err)
		return nil, fmt.Errorf("gateway %s refused a first event: %s: %s", r.cfg.GatewayAddr, st.Code(), st.Message())
	}
	return resp, nil
}

// load is one path's work: worker i of Concurrency sends events taken
// from the plan and records their outcomes in its tally.
type load func(ctx context.Context, i int, p *plan, t *tally) error

// measure runs Concurrency workers of l under one plan and merges their
// tallies.
func (r *runner) measure(ctx context.Context, path string, l load) (*Result, error) {
	r.live.sent.Store(0)
	r.live.accepted.Store(0)
	r.live.failed.Store(0)
	cpu := processCPU()
	p := newPlan(r.cfg)
	stopProgress := r.progress(path, p.start)
	defer stopProgress()
	tallies := make([]*tally, r.cfg.Concurrency)
	errs := make([]error, r.cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range tallies {
		tallies[i] = newTally(&r.live, func() bool { return ctx.Err() != nil })
		wg.Go(func() { errs[i] = l(ctx, i, p, tallies[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	res := &Result{Path: path, Errors: make(map[string]int64), Elapsed: time.Since(p.start), CPU: processCPU() - cpu}
	for _, t := range tallies {
		t.addTo(res)
	}
	return res, nil
}

// tally is one worker's counts. It is not safe for concurrent use.
type tally struct {
	live                        *counters
	stopped                     func() bool // the run was interrupted; nil: never
	sent, accepted, interrupted int64
	errors                      map[string]int64
	latency                     Histogram
}

func newTally(live *counters, stopped func() bool) *tally {
	return &tally{live: live, stopped: stopped, errors: make(map[string]int64)}
}

func (t *tally) send(n int) {
	t.sent += int64(n)
	t.live.sent.Add(int64(n))
}

func (t *tally) accept(d time.Duration) {
	t.accepted++
	t.live.accepted.Add(1)
	t.latency.Record(d)
}

// fail counts n events that got no acceptance, for reason; once the run
// is interrupted, as interrupted instead: their calls were cut short by
// the interruption.
func (t *tally) fail(reason string, n int) {
	if t.stopped != nil && t.stopped() {
		t.interrupted += int64(n)
		return
	}
	t.errors[reason] += int64(n)
	t.live.failed.Add(int64(n))
}

func (t *tally) addTo(res *Result) {
	res.Sent += t.sent
	res.Accepted += t.accepted
	res.Interrupted += t.interrupted
	for k, v := range t.errors {
		res.Errors[k] += v
	}
	res.Latency.Merge(&t.latency)
}

// plan hands out event numbers until the count or the duration is spent,
// pacing them at the target rate. It is safe for concurrent use.
type plan struct {
	events   int64
	deadline time.Time
	rate     float64
	start    time.Time
	next     atomic.Int64
}

func newPlan(cfg Config) *plan {
	p := &plan{events: int64(cfg.Events), rate: cfg.Rate, start: time.Now()}
	if cfg.Events == 0 {
		p.deadline = p.start.Add(cfg.Duration)
	}
	return p
}

// take reserves up to n event numbers, waiting until the rate allows the
// first. It returns the first number and how many were reserved; zero
// when the run is over.
func (p *plan) take(ctx context.Context, n int) (int64, int) {
	if ctx.Err() != nil || !p.deadline.IsZero() && !time.Now().Before(p.deadline) {
		return 0, 0
	}
	first := p.next.Add(int64(n)) - int64(n)
	if p.events > 0 {
		if first >= p.events {
			return 0, 0
		}
		n = int(min(int64(n), p.events-first))
	}
	if p.rate > 0 {
		due := p.start.Add(time.Duration(float64(first) / p.rate * float64(time.Second)))
		if !sleep(ctx, time.Until(due)) {
			return 0, 0
		}
	}
	return first, n
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// playerEvents makes the publish, batch and stream modes' events:
// PlayerRegistered for a pool of players, encoded once each, in envelopes
// with fresh event ids. It is safe for concurrent use.
type playerEvents struct {
	players  []*huntv1.PlayerRegistered
	payloads []*anypb.Any
	occurred *timestamppb.Timestamp
}

func newPlayerEvents(n int) (*playerEvents, error) {
	now := time.Now().Truncate(time.Second)
	s := &playerEvents{occurred: timestamppb.New(now)}
	for i := range n {
		p := &huntv1.PlayerRegistered{
			PlayerId: newUUID(),
			// The longest name the schema allows, for events of about 200 bytes.
			DisplayName:  fmt.Sprintf("bench player %04d ........................", i)[:40],
			RegisteredAt: timestamppb.New(now),
		}
		a, err := anypb.New(p)
		if err != nil {
			return nil, fmt.Errorf("encode a PlayerRegistered: %w", err)
		}
		s.players = append(s.players, p)
		s.payloads = append(s.payloads, a)
	}
	return s, nil
}

// event returns event i's envelope.
func (s *playerEvents) event(i int64) *gatewayv1.Event {
	return &gatewayv1.Event{EventId: newUUID(), OccurredAt: s.occurred, Payload: s.payloads[i%int64(len(s.payloads))]}
}

// newUUID returns a random (version 4) UUID. The bench needs unique ids,
// not secret ones, so it draws them from the fast generator.
func newUUID() string {
	var u [16]byte
	binary.LittleEndian.PutUint64(u[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(u[8:], rand.Uint64())
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], u[0:4])
	hex.Encode(s[9:13], u[4:6])
	hex.Encode(s[14:18], u[6:8])
	hex.Encode(s[19:23], u[8:10])
	hex.Encode(s[24:36], u[10:16])
	s[8], s[13], s[18], s[23] = '-', '-', '-', '-'
	return string(s[:])
}

// processCPU returns the CPU time (user and system) this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
