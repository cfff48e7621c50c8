package kafkax

import (
	"context"
	"time"
)

// Produce produces one record and waits for Kafka's acknowledgement or for
// ctx to end.
func (p *Producer) Produce(ctx context.Context, topic string, key, value []byte, headers []Header) (Position, error) {
	wait, err := p.Send(Record{Topic: topic, Key: key, Value: value, Headers: headers})
	if err != nil {
		return Position{}, err
	}
	return wait(ctx, time.Time{})
}
