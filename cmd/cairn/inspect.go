package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/cairnhq/cairn/internal/inspect"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/registry/regclient"
)

// readerFlags are the flags of the commands that read Kafka and decode
// through the registry: tail and dlq.
type readerFlags struct {
	KafkaBrokers  string
	RegistryAddr  string
	RegistryToken string
	Etcd          etcdConfig
}

func (c *readerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.KafkaBrokers, "kafka-brokers", "127.0.0.1:9092", "Kafka bootstrap brokers, host:port separated by commas")
	fs.StringVar(&c.RegistryAddr, "registry-addr", "127.0.0.1:8081", "schema registry address, to decode records")
	fs.StringVar(&c.RegistryToken, "registry-token", "", "registry API key, when the registry checks reads")
	c.Etcd.registerClient(fs)
}

func (c *readerFlags) validate() error {
	var errs []error
	if c.KafkaBrokers == "" {
		errs = append(errs, errors.New("--kafka-brokers: required"))
	}
	if err := c.Etcd.checkTarget("registry-addr", c.RegistryAddr); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// open returns a reader of the cluster and a decoder through the registry;
// close closes both.
func (c *readerFlags) open() (*kafkax.Reader, *inspect.Decoder, func(), error) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	disc, err := c.Etcd.client(quiet)
	if err != nil {
		return nil, nil, nil, err
	}
	conn, err := dialRegistry(disc, c.RegistryAddr, c.RegistryToken)
	if err != nil {
		disc.Close()
		return nil, nil, nil, err
	}
	r, err := kafkax.NewReader(kafkax.ReaderOptions{Brokers: c.KafkaBrokers, Logger: quiet})
	if err != nil {
		conn.Close()
		disc.Close()
		return nil, nil, nil, err
	}
	dec := inspect.NewDecoder(registryResolver(conn))
	return r, dec, func() { r.Close(); conn.Close(); disc.Close() }, nil
}

// registryResolver resolves schema ids through the registry's gRPC API,
// each lookup bounded so that a registry that is down is noticed quickly.
func registryResolver(conn grpc.ClientConnInterface) inspect.Resolver {
	return resolver{regclient.NewClient(regclient.NewRemote(conn), 0)}
}

type resolver struct{ c *regclient.Client }

func (r resolver) MessageType(ctx context.Context, id int32, indexes []int) (protoreflect.MessageDescriptor, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t, err := r.c.ResolveID(ctx, id, indexes)
	if errors.Is(err, regclient.ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", inspect.ErrUnknownSchema, err)
	}
	if err != nil {
		return nil, err
	}
	return t.Descriptor, nil
}

// parseStart parses --from: beginning, end, an offset, an RFC 3339 time or
// a duration ago.
func parseStart(s string, now time.Time) (kafkax.Start, error) {
	switch s {
	case "beginning", "":
		return kafkax.Start{FromBeginning: true}, nil
	case "end":
		return kafkax.Start{FromEnd: true}, nil
	}
	if off, err := strconv.ParseInt(s, 10, 64); err == nil {
		if off < 0 {
			return kafkax.Start{}, fmt.Errorf("--from %s: an offset is 0 or more", s)
		}
		return kafkax.Start{Offset: off}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return kafkax.Start{Time: t}, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return kafkax.Start{Time: now.Add(-d)}, nil
	}
	return kafkax.Start{}, fmt.Errorf("--from %q: want beginning, end, an offset, an RFC 3339 time or a duration ago such as 10m", s)
}

// parseTime parses an RFC 3339 time or a duration ago; "" is the zero time.
func parseTime(flagName, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--%s %q: want an RFC 3339 time or a duration ago such as 1h", flagName, s)
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
