// Package devbroker runs an in-memory Kafka-protocol broker (franz-go's
// kfake) for `cairn dev` and the tests. Clients reach it over TCP exactly as
// they reach a real cluster.
package devbroker

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running in-memory broker. It is safe for concurrent use.
type Broker struct {
	opts Options
	addr string

	mu sync.Mutex
	c  *kfake.Cluster // nil while stopped
}

// Options configures StartWith.
type Options struct {
	// Addr is the host:port to listen on; port 0 picks a free one, which a
	// restart keeps.
	Addr string
	// Partitions is the number of partitions of each topic.
	Partitions int32
	// Topics are created at start.
	Topics []string
	// DataDir, when set, keeps the broker's records (and its idempotent
	// producer state) on disk, so that they survive Stop and Restart.
	DataDir string
}

// Start listens on addr (host:port; port 0 picks a free one) and creates
// topics with the given number of partitions each.
func Start(addr string, partitions int32, topics ...string) (*Broker, error) {
	return StartWith(Options{Addr: addr, Partitions: partitions, Topics: topics})
}

// StartWith starts a broker as opts say.
func StartWith(opts Options) (*Broker, error) {
	b := &Broker{opts: opts, addr: opts.Addr}
	c, err := b.start()
	if err != nil {
		return nil, err
	}
	b.c = c
	b.addr = c.ListenAddrs()[0]
	return b, nil
}

func (b *Broker) start() (*kfake.Cluster, error) {
	host, portText, err := net.SplitHostPort(b.addr)
	if err != nil {
		return nil, fmt.Errorf("kafka broker address %q: %w", b.addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("kafka broker address %q: port is not a number", b.addr)
	}
	addr := net.JoinHostPort(host, portText)
	opts := []kfake.Opt{
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
		kfake.SeedTopics(b.opts.Partitions, b.opts.Topics...),
	}
	if b.opts.DataDir != "" {
		opts = append(opts, kfake.DataDir(b.opts.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka broker on %s: %w", b.addr, err)
	}
	return c, nil
}

// Addr returns the host:port clients bootstrap from.
func (b *Broker) Addr() string { return b.addr }

// Stop stops the broker as if it had crashed, keeping its address: clients
// see their connections refused until Restart. Without a DataDir everything
// it held is gone.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		b.c.Close()
		b.c = nil
	}
}

// Restart starts a stopped broker again on the same address, with what its
// DataDir kept.
func (b *Broker) Restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.c != nil {
		return errors.New("kafka broker: restart of a running broker")
	}
	c, err := b.start()
	if err != nil {
		return err
	}
	b.c = c
	return nil
}

// Close stops the broker; unless it has a DataDir, everything it held is
// gone.
func (b *Broker) Close() { b.Stop() }
