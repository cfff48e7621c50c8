// Package devbroker runs an in-memory Kafka-protocol broker (franz-go's
// kfake) for `cairn dev` and the tests. Clients reach it over TCP exactly as
// they reach a real cluster.
package devbroker

import (
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running in-memory broker. It is safe for concurrent use.
type Broker struct {
	c *kfake.Cluster
}

// Start listens on addr (host:port; port 0 picks a free one) and creates
// topics with the given number of partitions each.
func Start(addr string, partitions int32, topics ...string) (*Broker, error) {
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("kafka broker address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("kafka broker address %q: port is not a number", addr)
	}
	c, err := kfake.NewCluster(
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
		kfake.SeedTopics(partitions, topics...),
	)
	if err != nil {
		return nil, fmt.Errorf("kafka broker on %s: %w", addr, err)
	}
	return &Broker{c: c}, nil
}

// Addr returns the host:port clients bootstrap from.
func (b *Broker) Addr() string { return b.c.ListenAddrs()[0] }

// Close stops the broker; everything it held is gone.
func (b *Broker) Close() { b.c.Close() }
