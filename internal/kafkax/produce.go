package kafkax

import (
	"context"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Produce produces one record and waits for Kafka's acknowledgement or for
// ctx to end.
func (p *Producer) Produce(ctx context.Context, topic string, key, value []byte, headers []Header) (Position, error) {
	hs := make([]kafka.Header, len(headers))
	for i, h := range headers {
		hs[i] = kafka.Header{Key: h.Key, Value: h.Value}
	}
	d, err := p.Send(Record{Topic: topic, Key: key, Value: value, Headers: hs})
	if err != nil {
		return Position{}, err
	}
	return d.Wait(ctx)
}
