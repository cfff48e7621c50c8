package gateway

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// anonymous is every caller when authentication is off.
var anonymous = &auth.Principal{ID: "anonymous", Kind: auth.Service, Subject: "anonymous"}

// Publish implements gatewayv1.EventGatewayServer.
func (s *Server) Publish(ctx context.Context, req *gatewayv1.PublishRequest) (*gatewayv1.PublishResponse, error) {
	acc, st := s.call(ctx, "Publish", func(p *auth.Principal) (*gatewayv1.Accepted, *status.Status) {
		return s.end(ctx, s.begin(ctx, p, s.callTraced(ctx), req.GetEvent()))
	})
	if st != nil {
		return nil, st.Err()
	}
	return &gatewayv1.PublishResponse{Topic: acc.GetTopic(), Partition: acc.GetPartition(), Offset: acc.GetOffset(), SchemaId: acc.GetSchemaId()}, nil
}

// PublishBatch implements gatewayv1.EventGatewayServer. The events are
// checked and handed to Kafka in the batch's order, so that events with
// one key keep it; then their acknowledgements are awaited together.
func (s *Server) PublishBatch(ctx context.Context, req *gatewayv1.PublishBatchRequest) (*gatewayv1.PublishBatchResponse, error) {
	resp := &gatewayv1.PublishBatchResponse{}
	_, st := s.call(ctx, "PublishBatch", func(p *auth.Principal) (*gatewayv1.Accepted, *status.Status) {
		events := req.GetEvents()
		if len(events) == 0 {
			return nil, status.New(codes.InvalidArgument, "batch has no events")
		}
		if len(events) > s.cfg.MaxBatchEvents {
			return nil, status.Newf(codes.InvalidArgument, "batch has %d events; the limit is %d", len(events), s.cfg.MaxBatchEvents)
		}
		started := make([]*pendingEvent, len(events))
		traced := s.callTraced(ctx)
		for i, ev := range events {
			started[i] = s.begin(ctx, p, traced, ev)
		}
		// All are with Kafka now: waiting for each in turn takes as long
		// as the slowest, and every wait shares the call's budget.
		resp.Results = make([]*gatewayv1.EventResult, len(events))
		for i, pe := range started {
			acc, st := s.end(ctx, pe)
			resp.Results[i] = result(pe.ev, acc, st)
		}
		return nil, nil
	})
	if st != nil {
		return nil, st.Err()
	}
	return resp, nil
}

// call authenticates the caller, runs fn and counts the call.
func (s *Server) call(ctx context.Context, method string, fn func(*auth.Principal) (*gatewayv1.Accepted, *status.Status)) (acc *gatewayv1.Accepted, st *status.Status) {
	defer func() { s.metrics.callDone(method, st.Code()) }()
	p, err := s.authenticate(ctx)
	if err != nil {
		return nil, s.status(s.cfg.Logger.With("method", method), err)
	}
	return fn(p)
}

// authenticate returns the caller the server's interceptor authenticated.
func (s *Server) authenticate(ctx context.Context) (*auth.Principal, error) {
	if s.cfg.Auth == nil {
		return anonymous, nil
	}
	if p, ok := auth.FromContext(ctx); ok {
		return p, nil
	}
	return nil, fmt.Errorf("%w: the call was not authenticated", auth.ErrUnauthenticated)
}

// result describes an event's outcome as a batch or stream does.
func result(ev *gatewayv1.Event, acc *gatewayv1.Accepted, st *status.Status) *gatewayv1.EventResult {
	r := &gatewayv1.EventResult{EventId: ev.GetEventId()}
	if st != nil {
		r.Outcome = &gatewayv1.EventResult_Rejected{Rejected: rejected(st)}
	} else {
		r.Outcome = &gatewayv1.EventResult_Accepted{Accepted: acc}
	}
	return r
}

// pendingEvent is an event on its way: checked, and handed to Kafka unless
// it failed or repeats another.
type pendingEvent struct {
	ev       *gatewayv1.Event
	p        *auth.Principal
	traced   bool // the call carries trace context (callTraced)
	typeName string
	received time.Time // by the gateway's clock
	err      error     // why the event went no further

	entry *dedupEntry
	owner bool // this event produces; otherwise it waits for entry

	// Set once handed to Kafka.
	t        *regclient.Type
	wait     kafkax.Wait // Kafka's answer
	deadline time.Time   // the produce budget's end; zero when unbounded
	span     trace.Span  // nil unless the gateway traces
	size     int64
	start    time.Time
}

// begin runs the pipeline for one event up to Kafka: rate limit, envelope,
// type, permission, payload, actor, de-duplication; then it hands the
// record to the producer without waiting. Callers begin events in the
// order they must reach Kafka and end them in any order. traced is
// callTraced's answer for the call, asked once per call or stream.
func (s *Server) begin(ctx context.Context, p *auth.Principal, traced bool, ev *gatewayv1.Event) *pendingEvent {
	pe := &pendingEvent{ev: ev, p: p, traced: traced, received: time.Now()}
	if ok, retry := s.limits.allow(p.ID); !ok {
		pe.err = &rateLimited{principal: p.ID, retry: retry}
		return pe
	}
	if pe.err = s.checkEnvelope(ev); pe.err != nil {
		return pe
	}
	t, payload, err := s.check(ctx, p, ev)
	if t != nil {
		pe.typeName = string(t.Name())
	}
	if pe.err = err; err != nil {
		return pe
	}
	fp := fingerprint(pe.typeName, ev.GetPayload().GetValue())
	pe.entry, pe.owner = s.dedup.claim(p.ID, ev.GetEventId(), fp, pe.typeName)
	if !pe.owner && pe.entry.fingerprint != fp {
		pe.err = &rejection{code: codes.AlreadyExists, msg: fmt.Sprintf(
			"event_id %q was already used for another event (a %s); a retry must repeat the event exactly, and a new event needs a new event_id",
			ev.GetEventId(), pe.entry.typeName)}
		return pe
	}
	if pe.owner {
		if pe.err = s.send(ctx, pe, t, payload); pe.err != nil {
			s.dedup.finish(pe.entry, nil, pe.err)
		}
	}
	return pe
}

// end waits for the event's outcome, counts it and maps a failure to its
// status.
func (s *Server) end(ctx context.Context, pe *pendingEvent) (*gatewayv1.Accepted, *status.Status) {
	var (
		accepted *gatewayv1.Accepted
		err      = pe.err
	)
	switch {
	case err != nil:
	case !pe.owner:
		accepted, err = pe.entry.wait(ctx)
	default:
		accepted, err = s.await(ctx, pe)
	}
	typeName := pe.typeName
	if typeName == "" {
		typeName = "unknown"
	}
	if err != nil {
		log := s.cfg.Logger.With("event_id", pe.ev.GetEventId(), "type_url", pe.ev.GetPayload().GetTypeUrl(), "principal", pe.p.ID)
		st := s.status(log, err)
		s.metrics.events.WithLabelValues(typeName, "rejected", st.Code().String()).Inc()
		if st.Code() == codes.ResourceExhausted {
			s.metrics.rateLimited.WithLabelValues(pe.p.Role).Inc()
		}
		return nil, st
	}
	s.metrics.eventDone(typeName, !pe.owner)
	return accepted, nil
}

// checkEnvelope checks what does not depend on the payload's type: the
// envelope's rules, its size and its time.
func (s *Server) checkEnvelope(ev *gatewayv1.Event) error {
	// Validating the event as a PublishRequest's names its fields
	// event.… in every method. An envelope that plainly passes its rules
	// is not run through protovalidate, which costs 6 % of a Publish.
	if !plainEnvelope(ev) {
		if err := s.validator.Validate(&gatewayv1.PublishRequest{Event: ev}); err != nil {
			return invalidEnvelope(err)
		}
	}
	if n := proto.Size(ev); n > s.cfg.MaxEventBytes {
		return &rejection{msg: fmt.Sprintf("event is %d bytes encoded; the limit is %d", n, s.cfg.MaxEventBytes)}
	}
	if err := envelopeTimes(ev); err != nil {
		return err
	}
	if ahead := time.Until(ev.GetOccurredAt().AsTime()); ahead > s.cfg.MaxClockSkew {
		return &rejection{msg: fmt.Sprintf("event.occurred_at is %s in the future; at most %s of clock skew is allowed",
			ahead.Round(time.Second), s.cfg.MaxClockSkew)}
	}
	return nil
}

// plainEnvelope reports whether ev passes the envelope's protovalidate
// rules (gateway.proto) for certain, as most events do: a UUID for an id,
// a time, a payload and no headers. It may say no to a valid envelope,
// which protovalidate then checks, and never yes to an invalid one
// (TestPlainEnvelopeAgreesWithRules, which also fails when the rules
// change).
func plainEnvelope(ev *gatewayv1.Event) bool {
	return len(ev.GetHeaders()) == 0 && ev.GetOccurredAt() != nil && ev.GetPayload() != nil && wire.IsUUID(ev.GetEventId())
}

// check resolves the payload's type, checks that p may publish it, decodes
// it strictly with the registered descriptor, runs its validation rules and
// checks its actor. The type is returned once resolved, even on error.
func (s *Server) check(ctx context.Context, p *auth.Principal, ev *gatewayv1.Event) (*regclient.Type, protoreflect.Message, error) {
	name, err := messageName(ev.GetPayload().GetTypeUrl())
	if err != nil {
		return nil, nil, err
	}
	t, err := s.cfg.Registry.Resolve(ctx, name)
	if err != nil {
		return nil, nil, unknownType(name, err)
	}
	if t.Event == nil {
		return t, nil, &rejection{msg: string(name) + " is not an event: its schema has no (cairn.options.v1.event) option"}
	}
	if t.Derived {
		return t, nil, &rejection{code: codes.PermissionDenied, msg: string(name) +
			" is a derived event: only Cairn's workers write it, from the events they apply, so no caller may publish it"}
	}
	if s.cfg.Auth != nil {
		if err := s.cfg.Auth.Authorize(p, string(name)); err != nil {
			return t, nil, err
		}
	}
	msg := dynamicpb.NewMessage(t.Descriptor)
	// Checking for required fields walks the whole message: only a type
	// that has one pays for it. Merge into the new message: the reset
	// Unmarshal would do first allocates for nothing.
	if err := (proto.UnmarshalOptions{AllowPartial: !t.Required, Merge: true}).Unmarshal(ev.GetPayload().GetValue(), msg); err != nil {
		return t, nil, &rejection{msg: "payload is not a valid " + string(name) + ": " + err.Error()}
	}
	if !s.cfg.AllowUnknownFields {
		if path, num := unknownField(msg); path != "" || num != 0 {
			return t, nil, unknownFieldRejection(name, path, num)
		}
	}
	if err := checkTimes(msg, "event.payload"); err != nil {
		return t, nil, err
	}
	if err := s.validator.Validate(msg); err != nil {
		if f := asRuleFailure(name, err); f != nil {
			s.degraded.fail(f)
			return t, nil, f.rejection()
		}
		return t, nil, invalidPayload(name, err)
	}
	s.degraded.ok(string(name))
	if fd := t.ActorField(); fd != nil {
		if err := auth.AuthorizeActor(p, string(name), string(fd.Name()), msg.Get(fd).String()); err != nil {
			return t, nil, err
		}
	}
	if p.Kind == auth.Player {
		if err := s.checkPlayerClock(name, msg); err != nil {
			return t, nil, err
		}
	}
	return t, msg, nil
}

// checkPlayerClock keeps players from choosing when things happened: the
// game judges answers by their timestamps, so a player's event may not
// carry a top-level timestamp further than MaxClockSkew from the gateway's
// clock. Services may publish any time (imports, replays).
func (s *Server) checkPlayerClock(name protoreflect.FullName, msg protoreflect.Message) error {
	fields := msg.Descriptor().Fields()
	now := time.Now()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() == nil || fd.Message().FullName() != "google.protobuf.Timestamp" || fd.IsList() || !msg.Has(fd) {
			continue
		}
		ts := msg.Get(fd).Message()
		at := time.Unix(ts.Get(ts.Descriptor().Fields().ByName("seconds")).Int(), ts.Get(ts.Descriptor().Fields().ByName("nanos")).Int())
		if off := at.Sub(now).Abs(); off > s.cfg.MaxClockSkew {
			return &rejection{msg: fmt.Sprintf("%s.%s is %s away from the gateway's clock; a player's timestamps must be within %s of it",
				name, fd.Name(), off.Round(time.Second), s.cfg.MaxClockSkew)}
		}
	}
	return nil
}

// send frames the event, waits for room among the in-flight bytes and
// hands the record to the producer, in a span whose context travels in the
// record's headers.
func (s *Server) send(ctx context.Context, pe *pendingEvent, t *regclient.Type, payload protoreflect.Message) error {
	ev := pe.ev
	value := ev.GetPayload().GetValue()
	record := kafkax.Record{
		Topic:   t.Event.GetTopic(),
		Key:     []byte(payload.Get(t.KeyField()).String()),
		Value:   wire.Frame(wire.Header{SchemaID: t.SchemaID, Indexes: t.Indexes}, value),
		Headers: headers(ev, t, pe.p, pe.received),
	}
	deadline := s.produceDeadline(ctx)
	size := int64(len(record.Value) + len(record.Key))
	for _, h := range record.Headers {
		size += int64(len(h.Key) + len(h.Value))
	}
	size = min(size, s.cfg.MaxInFlightBytes)
	if !s.inflight.TryAcquire(size) { // only a full gateway makes a context
		actx, cancel := withDeadline(ctx, deadline)
		err := s.inflight.Acquire(actx, size)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errBusy
		}
	}
	s.metrics.inflight.Add(float64(size))

	if s.tracing {
		var span trace.Span
		var sctx context.Context
		sctx, span = s.tracer.Start(ctx, record.Topic+" publish",
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(
				attribute.String("messaging.system", "kafka"),
				attribute.String("messaging.operation.type", "send"),
				attribute.String("messaging.destination.name", record.Topic),
				attribute.String("messaging.message.id", ev.GetEventId()),
				attribute.String("cairn.event_type", string(t.Name())),
				attribute.Int("cairn.schema_id", int(t.SchemaID)),
			))
		pe.span = span
		s.cfg.Propagator.Inject(sctx, wire.HeaderCarrier{Headers: &record.Headers})
	} else if pe.traced {
		// No span of the gateway's own: the record carries the caller's
		// trace context, as a no-op span would have passed it on.
		s.cfg.Propagator.Inject(s.cfg.Propagator.Extract(ctx, incomingCarrier{ctx}), wire.HeaderCarrier{Headers: &record.Headers})
	}
	pe.t, pe.deadline, pe.size, pe.start = t, deadline, size, time.Now()
	wait, err := s.cfg.Producer.Send(record)
	if err != nil {
		s.release(pe, err)
		return missingTopic(t, err)
	}
	pe.wait = wait
	return nil
}

// await waits for Kafka's acknowledgement within the produce budget. When
// the budget runs out first, the record may still be delivered: the
// event's de-duplication entry stays open until Kafka answers, so that a
// retry with the same event_id gets that answer instead of producing the
// event a second time.
func (s *Server) await(ctx context.Context, pe *pendingEvent) (*gatewayv1.Accepted, error) {
	pos, err := pe.wait(ctx, pe.deadline)
	s.metrics.produce.Observe(time.Since(pe.start).Seconds())
	if err != nil && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded)) {
		s.release(pe, err)
		s.settling.Go(func() { s.settle(pe) })
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%w: %w", errKafkaTimeout, err)
	}
	s.release(pe, err)
	var acc *gatewayv1.Accepted
	if err == nil {
		acc = &gatewayv1.Accepted{Topic: pos.Topic, Partition: pos.Partition, Offset: pos.Offset, SchemaId: pe.t.SchemaID}
		if pe.span != nil {
			pe.span.SetAttributes(
				attribute.Int("messaging.destination.partition.id", int(pos.Partition)),
				attribute.Int64("messaging.kafka.offset", pos.Offset),
			)
		}
	}
	err = missingTopic(pe.t, err)
	s.dedup.finish(pe.entry, acc, err)
	return acc, err
}

// missingTopic turns Kafka's "no such topic" into a refusal that names the
// topic: the event cannot be published until someone creates it.
func missingTopic(t *regclient.Type, err error) error {
	if !errors.Is(err, kafkax.ErrUnknownTopic) {
		return err
	}
	return &rejection{code: codes.FailedPrecondition, msg: fmt.Sprintf(
		"topic %q, where %s events go, does not exist in Kafka; create it (cairn schema push can) and publish again", t.Event.GetTopic(), t.Name())}
}

// settle waits for Kafka's late answer on a record whose caller stopped
// waiting, and records it for retries. It ends when Kafka answers, which
// librdkafka guarantees within the delivery timeout, when the producer
// closes, or when Shutdown gives up on it.
func (s *Server) settle(pe *pendingEvent) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { // ends with settle, at the latest
		select {
		case <-s.abandon:
			cancel()
		case <-ctx.Done():
		}
	}()
	pos, err := pe.wait(ctx, time.Time{})
	var acc *gatewayv1.Accepted
	if err == nil {
		acc = &gatewayv1.Accepted{Topic: pos.Topic, Partition: pos.Partition, Offset: pos.Offset, SchemaId: pe.t.SchemaID}
	}
	s.dedup.finish(pe.entry, acc, err)
}

// release ends the event's span and frees its in-flight bytes.
func (s *Server) release(pe *pendingEvent, err error) {
	if pe.span != nil {
		if err != nil {
			pe.span.RecordError(err)
			pe.span.SetStatus(otelcodes.Error, "produce failed")
		}
		pe.span.End()
	}
	s.inflight.Release(pe.size)
	s.metrics.inflight.Sub(float64(pe.size))
}

// produceDeadline is when a produce must end: ProduceTimeout from now, if
// set, and shortly before the call's own deadline, so that the client hears
// UNAVAILABLE rather than running out of time. A call with neither has no
// produce deadline (zero): the producer's delivery timeout bounds the
// record, and a timer per event would cost more than it guards.
func (s *Server) produceDeadline(ctx context.Context) time.Time {
	budget := s.cfg.ProduceTimeout
	d, ok := ctx.Deadline()
	if !ok && budget == 0 {
		return time.Time{}
	}
	if ok {
		left := time.Until(d)
		left -= min(left/10, 500*time.Millisecond)
		if budget == 0 || left < budget {
			budget = left
		}
	}
	return time.Now().Add(budget)
}

// withDeadline is ctx bounded by deadline, or ctx itself when deadline is
// zero.
func withDeadline(ctx context.Context, deadline time.Time) (context.Context, context.CancelFunc) {
	if deadline.IsZero() {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline)
}

func headers(ev *gatewayv1.Event, t *regclient.Type, p *auth.Principal, received time.Time) []kafkax.Header {
	h := wire.AppendEventHeaders(make([]kafkax.Header, 0, 8+len(ev.GetHeaders())), ev.GetEventId(), string(t.Name()), t.SchemaID)
	// The gateway's own values share one allocation: an RFC 3339 time
	// with nanoseconds in UTC takes at most 30 bytes (years 0001 to 9999,
	// as checkTimes holds them).
	buf := make([]byte, 0, 2*30+len(p.ID))
	buf = ev.GetOccurredAt().AsTime().AppendFormat(buf, time.RFC3339Nano)
	occurredEnd := len(buf)
	buf = received.UTC().AppendFormat(buf, time.RFC3339Nano)
	receivedEnd := len(buf)
	buf = append(buf, p.ID...)
	h = append(h,
		kafkax.Header{Key: wire.HeaderOccurredAt, Value: buf[:occurredEnd:occurredEnd]},
		kafkax.Header{Key: wire.HeaderReceivedAt, Value: buf[occurredEnd:receivedEnd:receivedEnd]},
		kafkax.Header{Key: wire.HeaderPrincipal, Value: buf[receivedEnd:len(buf):len(buf)]},
	)
	for k, v := range ev.GetHeaders() {
		h = append(h, kafkax.Header{Key: k, Value: []byte(v)})
	}
	return h
}

// callTraced reports whether the call's metadata carries trace context,
// which the gateway passes on in the records when it does not trace
// itself (always false when it does).
func (s *Server) callTraced(ctx context.Context) bool {
	if s.tracing {
		return false
	}
	for _, f := range s.traceFields {
		if metadata.ValueFromIncomingContext(ctx, f) != nil {
			return true
		}
	}
	return false
}

// incomingCarrier reads trace context from a call's incoming metadata
// without copying it.
type incomingCarrier struct{ ctx context.Context }

func (c incomingCarrier) Get(key string) string {
	if v := metadata.ValueFromIncomingContext(c.ctx, key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c incomingCarrier) Set(string, string) {}

func (c incomingCarrier) Keys() []string {
	md, _ := metadata.FromIncomingContext(c.ctx)
	keys := make([]string, 0, len(md))
	for k := range md {
		keys = append(keys, k)
	}
	return keys
}

// unknownField returns the first field in m, or in a message below it, that
// the registered schema does not declare: its path and field number. Like
// badTime it walks fields by their descriptors, so that a message with
// none costs no allocation.
func unknownField(m protoreflect.Message) (string, protoreflect.FieldNumber) {
	if raw := m.GetUnknown(); len(raw) > 0 {
		num, _, _ := protowire.ConsumeTag(raw)
		return "", num
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if fd.Message() == nil || !m.Has(fd) {
			continue
		}
		if path, num := unknownFieldIn(fd, m.Get(fd)); path != "" || num != 0 {
			return path, num
		}
	}
	if m.Descriptor().ExtensionRanges().Len() > 0 {
		return unknownFieldInExtensions(m)
	}
	return "", 0
}

// unknownFieldIn is unknownField for the value v of a message, list or
// map field fd.
func unknownFieldIn(fd protoreflect.FieldDescriptor, v protoreflect.Value) (string, protoreflect.FieldNumber) {
	switch {
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if path, num := unknownField(l.Get(i).Message()); path != "" || num != 0 {
				return join(string(fd.Name())+"["+strconv.Itoa(i)+"]", path), num
			}
		}
	case fd.IsMap():
		if fd.MapValue().Message() != nil {
			return unknownFieldInMap(fd, v.Map())
		}
	default:
		if path, num := unknownField(v.Message()); path != "" || num != 0 {
			return join(string(fd.Name()), path), num
		}
	}
	return "", 0
}

// unknownFieldInMap is unknownField for the message values of map field fd.
func unknownFieldInMap(fd protoreflect.FieldDescriptor, m protoreflect.Map) (path string, num protoreflect.FieldNumber) {
	m.Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
		if p, n := unknownField(mv.Message()); p != "" || n != 0 {
			path, num = join(string(fd.Name())+"["+strconv.Quote(k.String())+"]", p), n
			return false
		}
		return true
	})
	return path, num
}

// unknownFieldInExtensions is unknownField for the extensions set on m,
// which only Range lists.
func unknownFieldInExtensions(m protoreflect.Message) (path string, num protoreflect.FieldNumber) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.IsExtension() && fd.Message() != nil {
			path, num = unknownFieldIn(fd, v)
		}
		return path == "" && num == 0
	})
	return path, num
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + "." + b
}
