package gateway

import (
	"context"
	"strconv"
	"strings"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// A request that does not decode is the client's fault: its call must end
// with InvalidArgument saying what is wrong. gRPC ends it with Internal
// whatever its codec returns ("grpc: failed to unmarshal the received
// message", written as the call's status the moment RecvMsg fails). So the
// gateway's server has a codec of its own, forced on that server alone
// (the process's registered codec is untouched), which does not fail a
// request that does not decode: it leaves the request empty and says why
// beside it, in the request it was handed, and the service's handler,
// registered through strictServices, answers InvalidArgument with that.
//
// The codec is gRPC's registered proto codec, buffer pooling and all: a
// stream's message that decodes costs what it does with gRPC's own codec;
// a unary call costs two small allocations more (the request's envelope
// and the decode function around gRPC's).

// codec is the gateway server's codec. It is safe for concurrent use.
type codec struct {
	encoding.CodecV2
}

func newCodec() codec {
	return codec{CodecV2: encoding.GetCodecV2(grpcproto.Name)}
}

// request is a message on its way through the codec. It is the message
// itself to whatever sees it on the way (interceptors, stats handlers and
// binary logs see the request's own ProtoReflect), and it carries why the
// codec could not fill it.
type request struct {
	proto.Message
	failed bool
	path   string // the field at fault, when found
	err    error
}

// Unmarshal decodes data into v as gRPC's codec does. When v is a request
// that does not decode, the request is left empty and says why, and
// Unmarshal succeeds: gRPC must not answer for the handler.
func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*request)
	if !ok {
		return c.CodecV2.Unmarshal(data, v)
	}
	err := c.CodecV2.Unmarshal(data, r.Message)
	if err == nil {
		return nil
	}
	proto.Reset(r.Message)
	r.failed, r.err = true, err
	r.path = invalidUTF8(r.Message.ProtoReflect().Descriptor(), data.Materialize())
	return nil
}

// receive receives m through recv, wrapped in r, and answers
// InvalidArgument, naming service, when it does not decode.
func (r *request) receive(service string, m any, recv func(any) error) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return recv(m)
	}
	*r = request{Message: msg}
	err := recv(r)
	failed, path, cause := r.failed, r.path, r.err
	*r = request{} // keep no reference to m
	if err != nil || !failed {
		return err
	}
	if path != "" {
		path += ": "
	}
	return status.Errorf(codes.InvalidArgument, "request is not a valid %s message: %s%v", service, path, cause)
}

// strictServices registers services on a server whose codec is the
// gateway's, so that their requests that do not decode end with
// InvalidArgument. It is a
// grpc.ServiceRegistrar, and serves reflection too.
type strictServices struct {
	*grpc.Server
	// undecoded, when set, hears of each unary call that ended so: its
	// handler never ran. (A stream's handler runs and sees the error.)
	undecoded func(service, method string)
}

// RegisterService registers a copy of sd whose handlers receive their
// requests through the codec's check.
func (r strictServices) RegisterService(sd *grpc.ServiceDesc, impl any) {
	service := sd.ServiceName
	short := service[strings.LastIndexByte(service, '.')+1:]
	strict := *sd
	strict.Methods = make([]grpc.MethodDesc, len(sd.Methods))
	for i, m := range sd.Methods {
		handler, method := m.Handler, m.MethodName
		strict.Methods[i] = grpc.MethodDesc{MethodName: method, Handler: func(srv any, ctx context.Context, dec func(any) error, in grpc.UnaryServerInterceptor) (any, error) {
			return handler(srv, ctx, func(v any) error {
				err := new(request).receive(short, v, dec)
				if err != nil && r.undecoded != nil && status.Code(err) == codes.InvalidArgument {
					r.undecoded(service, method)
				}
				return err
			}, in)
		}}
	}
	strict.Streams = make([]grpc.StreamDesc, len(sd.Streams))
	for i, sdesc := range sd.Streams {
		handler := sdesc.Handler
		sdesc.Handler = func(srv any, stream grpc.ServerStream) error {
			return handler(srv, &strictStream{ServerStream: stream, service: short})
		}
		strict.Streams[i] = sdesc
	}
	r.Server.RegisterService(&strict, impl)
}

// strictStream is a stream whose messages are received through the
// codec's check. Like any stream, it must not receive on two goroutines
// at once.
type strictStream struct {
	grpc.ServerStream
	service string
	req     request // reused for every message
}

// RecvMsg receives m, answering InvalidArgument when it does not decode.
func (s *strictStream) RecvMsg(m any) error {
	return s.req.receive(s.service, m, s.ServerStream.RecvMsg)
}

// invalidUTF8 returns the path of the first string field in b, a message
// of type md, that is not valid UTF-8, as "event.headers[\"k\"]" or
// "events[1].event_id"; "" when there is none, or b is not well formed
// before it.
func invalidUTF8(md protoreflect.MessageDescriptor, b []byte) string {
	seen := make(map[protoreflect.FieldNumber]int)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		value := b[:n]
		b = b[n:]
		fd := md.Fields().ByNumber(num)
		index := seen[num]
		seen[num]++
		if fd == nil || typ != protowire.BytesType {
			continue
		}
		v, _ := protowire.ConsumeBytes(value)
		name := string(fd.Name())
		if fd.IsList() {
			name += "[" + strconv.Itoa(index) + "]"
		}
		switch {
		case fd.IsMap():
			if path := invalidUTF8InEntry(fd, v); path != "" {
				return name + path
			}
		case fd.Kind() == protoreflect.StringKind:
			if !utf8.Valid(v) {
				return name
			}
		case fd.Message() != nil:
			if path := invalidUTF8(fd.Message(), v); path != "" {
				return name + "." + path
			}
		}
	}
	return ""
}

// invalidUTF8InEntry returns where in a map entry a string is not valid
// UTF-8: ` (a key)` for its key, `["key"]` and what follows for its value.
func invalidUTF8InEntry(fd protoreflect.FieldDescriptor, b []byte) string {
	keyField, valueField := fd.MapKey(), fd.MapValue()
	var key, value []byte
	var hasValue bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return ""
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return ""
		}
		switch {
		case num == keyField.Number():
			key = b[:n]
			if typ == protowire.BytesType {
				key, _ = protowire.ConsumeBytes(key)
			}
		case num == valueField.Number() && typ == protowire.BytesType:
			value, _ = protowire.ConsumeBytes(b[:n])
			hasValue = true
		}
		b = b[n:]
	}
	if keyField.Kind() == protoreflect.StringKind && !utf8.Valid(key) {
		return " (a key)"
	}
	if !hasValue {
		return ""
	}
	at := "[" + mapKey(keyField, key) + "]"
	switch {
	case valueField.Kind() == protoreflect.StringKind && !utf8.Valid(value):
		return at
	case valueField.Message() != nil:
		if path := invalidUTF8(valueField.Message(), value); path != "" {
			return at + "." + path
		}
	}
	return ""
}

// mapKey formats a map entry's key, as encoded in raw, for a field path.
func mapKey(fd protoreflect.FieldDescriptor, raw []byte) string {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return strconv.Quote(string(raw))
	case protoreflect.BoolKind, protoreflect.Int32Kind, protoreflect.Int64Kind, protoreflect.Uint32Kind, protoreflect.Uint64Kind,
		protoreflect.Sint32Kind, protoreflect.Sint64Kind:
		v, n := protowire.ConsumeVarint(raw)
		if n < 0 {
			break
		}
		switch fd.Kind() {
		case protoreflect.BoolKind:
			return strconv.FormatBool(v != 0)
		case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
			return strconv.FormatUint(v, 10)
		case protoreflect.Sint32Kind, protoreflect.Sint64Kind:
			return strconv.FormatInt(protowire.DecodeZigZag(v), 10)
		default:
			return strconv.FormatInt(int64(v), 10)
		}
	}
	return "…"
}
