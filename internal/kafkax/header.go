package kafkax

import "github.com/confluentinc/confluent-kafka-go/v2/kafka"

// Header is a record header: a key and a value.
type Header = kafka.Header
