package gateway

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	"github.com/cairnhq/cairn/registry"
)

// Record header names the gateway sets on every record.
const (
	HeaderEventID    = "cairn-event-id"
	HeaderEventType  = "cairn-event-type"
	HeaderSchemaID   = "cairn-schema-id"
	HeaderOccurredAt = "cairn-occurred-at"
)

// Publish implements gatewayv1.EventGatewayServer.
func (s *Server) Publish(ctx context.Context, req *gatewayv1.PublishRequest) (*gatewayv1.PublishResponse, error) {
	resp, err := s.publish(ctx, req)
	if err != nil {
		return nil, s.status(ctx, req.GetEvent(), err)
	}
	return resp, nil
}

func (s *Server) publish(ctx context.Context, req *gatewayv1.PublishRequest) (*gatewayv1.PublishResponse, error) {
	if err := s.validator.Validate(req); err != nil {
		return nil, invalidEnvelope(err)
	}
	ev := req.GetEvent()
	t, payload, err := s.check(ctx, ev)
	if err != nil {
		return nil, err
	}
	record := kafkax.Record{
		Topic:   t.Event.GetTopic(),
		Key:     []byte(payload.Get(t.KeyField()).String()),
		Value:   wire.Append(make([]byte, 0, 16+len(ev.GetPayload().GetValue())), wire.Header{SchemaID: t.SchemaID, Indexes: t.Indexes}, ev.GetPayload().GetValue()),
		Headers: headers(ev, t),
	}
	pos, err := s.cfg.Producer.Produce(ctx, record)
	if err != nil {
		return nil, err
	}
	return &gatewayv1.PublishResponse{
		Topic:     pos.Topic,
		Partition: pos.Partition,
		Offset:    pos.Offset,
		SchemaId:  t.SchemaID,
	}, nil
}

// check resolves the payload's type, decodes it strictly with the registered
// descriptor and runs its validation rules.
func (s *Server) check(ctx context.Context, ev *gatewayv1.Event) (*registry.Type, protoreflect.Message, error) {
	url := ev.GetPayload().GetTypeUrl()
	name := protoreflect.FullName(url[strings.LastIndexByte(url, '/')+1:])
	if !name.IsValid() {
		return nil, nil, &rejection{msg: "event.payload.type_url " + strconv.Quote(url) + " does not end in a message name"}
	}
	t, err := s.cfg.Registry.Resolve(ctx, name)
	if err != nil {
		return nil, nil, unknownType(name, err)
	}
	if t.Event == nil {
		return nil, nil, &rejection{msg: string(name) + " is not an event: its schema has no (cairn.options.v1.event) option"}
	}
	msg := dynamicpb.NewMessage(t.Descriptor)
	if err := (proto.UnmarshalOptions{}).Unmarshal(ev.GetPayload().GetValue(), msg); err != nil {
		return nil, nil, &rejection{msg: "payload is not a valid " + string(name) + ": " + err.Error()}
	}
	if path, num := unknownField(msg); path != "" || num != 0 {
		return nil, nil, unknownFieldRejection(name, path, num)
	}
	if err := s.validator.Validate(msg); err != nil {
		return nil, nil, invalidPayload(name, err)
	}
	return t, msg, nil
}

func headers(ev *gatewayv1.Event, t *registry.Type) []kafka.Header {
	h := make([]kafka.Header, 0, 4+len(ev.GetHeaders()))
	h = append(h,
		kafka.Header{Key: HeaderEventID, Value: []byte(ev.GetEventId())},
		kafka.Header{Key: HeaderEventType, Value: []byte(t.Name())},
		kafka.Header{Key: HeaderSchemaID, Value: strconv.AppendInt(nil, int64(t.SchemaID), 10)},
		kafka.Header{Key: HeaderOccurredAt, Value: ev.GetOccurredAt().AsTime().AppendFormat(nil, time.RFC3339Nano)},
	)
	for k, v := range ev.GetHeaders() {
		h = append(h, kafka.Header{Key: k, Value: []byte(v)})
	}
	return h
}

// unknownField returns the first field in m, or in a message below it, that
// the registered schema does not declare: its path and field number.
func unknownField(m protoreflect.Message) (string, protoreflect.FieldNumber) {
	if raw := m.GetUnknown(); len(raw) > 0 {
		num, _, _ := protowire.ConsumeTag(raw)
		return "", num
	}
	var (
		path string
		num  protoreflect.FieldNumber
	)
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		check := func(sub protoreflect.Message, elem string) bool {
			p, n := unknownField(sub)
			if p == "" && n == 0 {
				return true
			}
			path, num = join(elem, p), n
			return false
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := range l.Len() {
				if !check(l.Get(i).Message(), string(fd.Name())+"["+strconv.Itoa(i)+"]") {
					return false
				}
			}
		case fd.IsMap():
			if fd.MapValue().Message() == nil {
				return true
			}
			ok := true
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				ok = check(mv.Message(), string(fd.Name())+"["+strconv.Quote(k.String())+"]")
				return ok
			})
			return ok
		default:
			return check(v.Message(), string(fd.Name()))
		}
		return true
	})
	return path, num
}

func join(a, b string) string {
	if b == "" {
		return a
	}
	return a + "." + b
}
