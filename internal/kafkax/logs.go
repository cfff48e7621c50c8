package kafkax

import (
	"context"
	"log/slog"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// forwardLogs copies librdkafka's log lines to log until the client closes
// ch, which it does on Close. librdkafka's informational lines are logged at
// debug level: they are about the client's internals, not the system's.
func forwardLogs(ch chan kafka.LogEvent, log *slog.Logger) {
	for ev := range ch {
		level := slog.LevelDebug
		switch {
		case ev.Level <= 3:
			level = slog.LevelError
		case ev.Level == 4:
			level = slog.LevelWarn
		}
		log.Log(context.Background(), level, ev.Message, "client", ev.Name, "tag", ev.Tag)
	}
}

// baseConfig is the configuration every client shares.
func baseConfig(brokers, clientID string) kafka.ConfigMap {
	return kafka.ConfigMap{
		"bootstrap.servers":      brokers,
		"client.id":              clientID,
		"go.logs.channel.enable": true,
		// Client metrics push (KIP-714) is for hosted clusters; keep the
		// client quiet about it.
		"enable.metrics.push": false,
	}
}
