package kafkax_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
)

// startBroker starts a development broker whose topics have partitions
// each, closed when the test ends.
func startBroker(t *testing.T, partitions int32, topics ...string) *devbroker.Broker {
	t.Helper()
	broker, err := devbroker.Start("127.0.0.1:0", partitions, topics...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	return broker
}

// startProducer starts a producer on brokers, closed when the test ends,
// waiting at most closeWithin for what it still holds.
func startProducer(t *testing.T, brokers string, closeWithin time.Duration) *kafkax.Producer {
	t.Helper()
	p, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: brokers, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeWithin)
		defer cancel()
		_ = p.Close(ctx)
	})
	return p
}
