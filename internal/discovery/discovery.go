// Package discovery holds Cairn's optional service discovery through etcd:
// a role (gateway, registry, worker) registers the address it serves under a
// lease at /cairn/services/<role>/<id>, in the format of etcd's endpoints
// manager, and keeps it there while it runs; clients dial "etcd:///<role>"
// through etcd's gRPC naming resolver and balance their calls round robin
// across the live instances, or dial a plain host:port as before.
//
// A Client with no etcd endpoints registers nothing and dials plain
// addresses only, so callers need no special case when discovery is off.
package discovery

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/namespace"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// Prefix is where the roles' addresses live in etcd: an instance of a role
// is the key Prefix + role + "/" + id.
const Prefix = "/cairn/services/"

// Scheme is the gRPC target scheme resolved through etcd: "etcd:///gateway"
// names the live gateways.
const Scheme = "etcd"

// Default settings of Options.
const (
	DefaultTTL            = 10 * time.Second
	DefaultRequestTimeout = 5 * time.Second
)

// Options configure a Client.
type Options struct {
	// Endpoints are etcd's client URLs or host:port addresses. With none,
	// discovery is off: Register does nothing and Dial takes plain
	// addresses only.
	Endpoints []string
	// TTL is the lease of a registration: how long an instance that died
	// without removing its key stays listed. etcd rounds it up to whole
	// seconds and to its own minimum (2s with default timings).
	TTL time.Duration
	// RequestTimeout bounds each request to etcd, and how long a new
	// client connection waits for etcd's answer before it reports an error.
	RequestTimeout time.Duration
	// Logger receives registration events. Default: slog.Default().
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.TTL == 0 {
		o.TTL = DefaultTTL
	}
	if o.RequestTimeout == 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
}

// Validate reports what is wrong with the options.
func (o Options) Validate() error {
	var errs []error
	if o.TTL < 0 || (o.TTL > 0 && o.TTL < time.Second) {
		errs = append(errs, fmt.Errorf("lease TTL %s: want at least 1s", o.TTL))
	}
	if o.RequestTimeout < 0 {
		errs = append(errs, fmt.Errorf("request timeout %s: want a positive duration", o.RequestTimeout))
	}
	for _, e := range o.Endpoints {
		if strings.TrimSpace(e) == "" {
			errs = append(errs, errors.New("an etcd endpoint is empty"))
		}
	}
	return errors.Join(errs...)
}

// Client registers roles in etcd and dials gRPC targets, resolving
// "etcd:///<role>" through etcd. It holds one etcd connection, shared by its
// registrations and the connections it dialed.
//
// Client is safe for concurrent use. Close it after the connections it
// dialed and the registrations it made.
type Client struct {
	opts Options
	etcd *clientv3.Client // nil when discovery is off
	// builds tracks the goroutines that build etcd resolvers for dialed
	// connections; a build blocked on an unreachable etcd ends when etcd
	// answers or the etcd client closes.
	builds sync.WaitGroup
}

// New returns a Client for the etcd at opts.Endpoints. It does not wait for
// etcd: an etcd that is down now is retried by each registration and
// connection until it answers.
func New(opts Options) (*Client, error) {
	opts.setDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	c := &Client{opts: opts}
	if len(opts.Endpoints) == 0 {
		return c, nil
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   opts.Endpoints,
		DialTimeout: opts.RequestTimeout,
		// Reconnect within seconds once etcd is back, not after gRPC's
		// default backoff of up to two minutes.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: 200 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
			MinConnectTimeout: opts.RequestTimeout,
		})},
		// Registration and resolution log what matters through Logger;
		// the client's own retries would only repeat it.
		Logger: zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(opts.Endpoints, ","), err)
	}
	// Every key this client reads, writes or watches is under Prefix, so
	// that etcd's endpoints manager and resolver, which key an endpoint by
	// its target, see "gateway" where etcd holds /cairn/services/gateway.
	cli.KV = namespace.NewKV(cli.KV, Prefix)
	cli.Watcher = namespace.NewWatcher(cli.Watcher, Prefix)
	cli.Lease = namespace.NewLease(cli.Lease, Prefix)
	c.etcd = cli
	return c, nil
}

// Enabled reports whether the client talks to etcd.
func (c *Client) Enabled() bool { return c.etcd != nil }

// Close closes the etcd connection and waits for the resolvers being built.
func (c *Client) Close() error {
	if c.etcd == nil {
		return nil
	}
	err := c.etcd.Close()
	c.builds.Wait()
	if err != nil {
		return fmt.Errorf("close etcd client: %w", err)
	}
	return nil
}

// ParseTarget returns the role an "etcd:///<role>" target names; ok is
// false for any other target, such as a plain host:port.
func ParseTarget(target string) (role string, ok bool, err error) {
	rest, found := strings.CutPrefix(target, Scheme+":")
	if !found {
		return "", false, nil
	}
	role, found = strings.CutPrefix(rest, "///")
	if !found || !validRole(role) {
		return "", true, fmt.Errorf("target %q: want %s:///ROLE, such as %s:///gateway", target, Scheme, Scheme)
	}
	return role, true, nil
}

func validRole(role string) bool {
	return role != "" && !strings.ContainsAny(role, "/ ") && role != "." && role != ".."
}

// key returns where an instance of role is registered, relative to Prefix.
func key(role, id string) string { return role + "/" + id }
