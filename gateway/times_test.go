package gateway

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

func TestCheckTimesFindsNestedAndRepeated(t *testing.T) {
	t.Parallel()
	batch := &gatewayv1.PublishBatchRequest{Events: []*gatewayv1.Event{
		{OccurredAt: timestamppb.Now()},
		{OccurredAt: &timestamppb.Timestamp{Seconds: 1, Nanos: 1e9}},
	}}
	err := checkTimes(batch.ProtoReflect(), "request")
	if err == nil || !strings.Contains(err.Error(), "request.events[1].occurred_at") {
		t.Errorf("checkTimes = %v, want the path request.events[1].occurred_at", err)
	}
	batch.Events[1].OccurredAt.Nanos = 0
	if err := checkTimes(batch.ProtoReflect(), "request"); err != nil {
		t.Errorf("checkTimes of valid timestamps = %v", err)
	}
	for _, d := range []*durationpb.Duration{{Seconds: 1, Nanos: -1}, {Seconds: 315576000001}, {Nanos: 1e9}} {
		if err := checkTimes(d.ProtoReflect(), "d"); err == nil {
			t.Errorf("checkTimes(%v) = nil, want an error", d)
		}
	}
	if err := checkTimes(durationpb.New(-90*time.Minute).ProtoReflect(), "d"); err != nil {
		t.Errorf("checkTimes of a valid duration = %v", err)
	}
}

// FuzzCheckTimestamp holds checkTimes to the Timestamp's own definition of
// validity, as timestamppb.CheckValid states it.
func FuzzCheckTimestamp(f *testing.F) {
	f.Add(int64(0), int32(0))
	f.Add(int64(-62135596800), int32(0))
	f.Add(int64(253402300799), int32(999999999))
	f.Add(int64(253402300800), int32(0))
	f.Add(int64(9223372036854775807), int32(0))
	f.Add(int64(-9223372036854775808), int32(-5))
	f.Fuzz(func(t *testing.T, sec int64, nanos int32) {
		ts := &timestamppb.Timestamp{Seconds: sec, Nanos: nanos}
		err := checkTimes((&gatewayv1.Event{OccurredAt: ts}).ProtoReflect(), "event")
		if valid := ts.CheckValid() == nil; valid != (err == nil) {
			t.Fatalf("checkTimes(%v) = %v; CheckValid says valid=%v", ts, err, valid)
		}
		if err != nil && !strings.Contains(err.Error(), "event.occurred_at") {
			t.Fatalf("error %q does not name event.occurred_at", err)
		}
	})
}
