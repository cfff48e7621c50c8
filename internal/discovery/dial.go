package discovery

import (
	"errors"
	"fmt"
	"sync"
	"time"

	etcdresolver "go.etcd.io/etcd/client/v3/naming/resolver"
	"google.golang.org/grpc"
	gresolver "google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// ErrDiscoveryOff is returned by Dial for an etcd:/// target when the
// Client has no etcd endpoints.
var ErrDiscoveryOff = errors.New("an etcd:/// target needs etcd endpoints")

// ServiceConfig is the gRPC service config of connections to etcd:/// targets:
// calls are spread round robin over the live instances, and a call that
// fails UNAVAILABLE (its instance died or is stopping) is tried again up to
// three more times, 0.1s to 1s apart, on the instances still up. Every
// Cairn RPC may be sent twice: Publish is deduplicated by event id, the
// others only read.
const ServiceConfig = `{
  "loadBalancingConfig": [{"round_robin": {}}],
  "methodConfig": [{
    "name": [{}],
    "retryPolicy": {
      "maxAttempts": 4,
      "initialBackoff": "0.1s",
      "maxBackoff": "1s",
      "backoffMultiplier": 2,
      "retryableStatusCodes": ["UNAVAILABLE"]
    }
  }]
}`

// Dial returns a gRPC client connection to target: "etcd:///<role>" is
// resolved through etcd and follows the role's instances as they register
// and expire, with ServiceConfig; anything else is handed to
// grpc.NewClient as it is. Like grpc.NewClient, Dial does not connect:
// the first call does.
func (c *Client) Dial(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	_, isEtcd, err := ParseTarget(target)
	if err != nil {
		return nil, err
	}
	if isEtcd {
		if c.etcd == nil {
			return nil, fmt.Errorf("%s: %w", target, ErrDiscoveryOff)
		}
		opts = append([]grpc.DialOption{
			grpc.WithResolvers(&lazyBuilder{c: c}),
			grpc.WithDefaultServiceConfig(ServiceConfig),
		}, opts...)
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	return conn, nil
}

// lazyBuilder builds etcd's naming resolver without holding up the
// connection: etcd's builder reads the role's instances before it returns
// and, with etcd down, would block the connection's first call past its
// deadline. Here the build runs in a goroutine the Client owns, and a
// connection that has heard nothing from etcd after RequestTimeout fails its
// calls with UNAVAILABLE and a reason until etcd answers.
type lazyBuilder struct{ c *Client }

func (b *lazyBuilder) Scheme() string { return Scheme }

func (b *lazyBuilder) Build(target gresolver.Target, cc gresolver.ClientConn, opts gresolver.BuildOptions) (gresolver.Resolver, error) {
	role, _, err := ParseTarget(target.String())
	if err != nil {
		return nil, err
	}
	inner, err := etcdresolver.NewBuilder(b.c.etcd)
	if err != nil {
		return nil, fmt.Errorf("etcd resolver: %w", err)
	}
	r := &lazyResolver{cc: cc, role: role, endpoints: b.c.opts.Endpoints}
	r.timer = time.AfterFunc(b.c.opts.RequestTimeout, func() { r.silent(b.c.opts.RequestTimeout) })
	b.c.builds.Add(1)
	go func() {
		defer b.c.builds.Done()
		res, err := inner.Build(target, (*watchedConn)(r), opts)
		r.built(res, err)
	}()
	return r, nil
}

// lazyResolver stands for etcd's resolver while it is built, and passes
// its updates on once it is.
type lazyResolver struct {
	cc        gresolver.ClientConn
	role      string
	endpoints []string
	timer     *time.Timer

	mu      sync.Mutex
	inner   gresolver.Resolver // set once built
	done    bool               // the build returned
	updated bool               // etcd's resolver has sent a state
	closed  bool
}

func (r *lazyResolver) built(res gresolver.Resolver, err error) {
	r.mu.Lock()
	r.done = true
	closed := r.closed
	if err == nil && !closed {
		r.inner = res
	}
	r.mu.Unlock()
	// gRPC is never called with mu held: it may close the resolver from
	// its own goroutine at any time.
	switch {
	case err != nil && !closed:
		r.cc.ReportError(fmt.Errorf("etcd resolver for %s: %w", r.role, err))
	case err == nil && closed:
		res.Close()
	case err == nil:
		// etcd's resolver sends the instances it found, if any, as soon
		// as it runs; none within a second means there are none yet.
		r.timer.Reset(noInstanceWait)
	}
}

// noInstanceWait is how long a built resolver may stay silent before the
// connection reports that the role has no instance.
const noInstanceWait = time.Second

// silent runs when etcd has said nothing about the role for a while.
func (r *lazyResolver) silent(after time.Duration) {
	r.mu.Lock()
	closed, updated, done := r.closed, r.updated, r.done
	r.mu.Unlock()
	switch {
	case closed || updated:
	case !done:
		r.cc.ReportError(fmt.Errorf("etcd %v gave no answer about %s within %s; waiting for it", r.endpoints, r.role, after))
	default:
		r.cc.ReportError(r.noInstance())
	}
}

func (r *lazyResolver) noInstance() error {
	return fmt.Errorf("no %s instance is registered in etcd under %s%s/", r.role, Prefix, r.role)
}

func (r *lazyResolver) ResolveNow(gresolver.ResolveNowOptions) {}

func (r *lazyResolver) Close() {
	r.timer.Stop()
	r.mu.Lock()
	r.closed = true
	inner := r.inner
	r.inner = nil
	r.mu.Unlock()
	if inner != nil {
		inner.Close()
	}
}

// watchedConn is the ClientConn etcd's resolver updates: it notes that an
// update came and turns an empty list of instances into an error that
// names the role.
type watchedConn lazyResolver

func (w *watchedConn) UpdateState(s gresolver.State) error {
	r := (*lazyResolver)(w)
	r.mu.Lock()
	r.updated = true
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return nil
	}
	if len(s.Endpoints) == 0 && len(s.Addresses) == 0 {
		r.cc.ReportError(r.noInstance())
		return nil
	}
	return r.cc.UpdateState(s)
}

func (w *watchedConn) ReportError(err error) {
	r := (*lazyResolver)(w)
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if !closed {
		r.cc.ReportError(err)
	}
}

// NewAddress is deprecated in gRPC and unused by etcd's resolver.
func (w *watchedConn) NewAddress(addrs []gresolver.Address) {
	_ = w.UpdateState(gresolver.State{Addresses: addrs})
}

func (w *watchedConn) ParseServiceConfig(js string) *serviceconfig.ParseResult {
	return w.cc.ParseServiceConfig(js)
}
