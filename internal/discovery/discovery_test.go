package discovery_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/internal/discovery"
	"github.com/cairnhq/cairn/internal/discovery/etcdtest"
)

// ttl is the lease TTL of these tests: etcd's minimum with its default
// timings.
const ttl = 2 * time.Second

// logBuffer collects a slog logger's lines for a test to read.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newClient(t *testing.T, endpoints []string, log *logBuffer) *discovery.Client {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(log, nil))
	c, err := discovery.New(discovery.Options{Endpoints: endpoints, TTL: ttl, RequestTimeout: 2 * time.Second, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	})
	return c
}

// admin is a plain etcd client (no namespace) to look at and tamper with
// what the roles registered.
func admin(t *testing.T, srv *etcdtest.Server) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// serveHealth starts a gRPC server with the health service on a free port.
func serveHealth(t *testing.T) (addr string, stop func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	done := make(chan struct{})
	go func() { _ = srv.Serve(lis); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { srv.Stop(); <-done }) }
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

// waitFor polls cond every 50ms until it holds, and returns how long that
// took, or fails the test after limit.
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		<-tick.C
	}
	return time.Since(start)
}

// keys returns the registered instances of role: key → value.
func keys(t *testing.T, cli *clientv3.Client, role string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, discovery.Prefix+role+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatalf("list %s: %v", role, err)
	}
	m := make(map[string]string)
	for _, kv := range resp.Kvs {
		m[string(kv.Key)] = string(kv.Value)
	}
	return m
}

// check calls the health service once and returns which server answered.
func check(ctx context.Context, conn *grpc.ClientConn) (string, error) {
	var p peer.Peer
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p))
	if err != nil {
		return "", err
	}
	return p.Addr.String(), nil
}

func register(t *testing.T, c *discovery.Client, role, addr string) *discovery.Registration {
	t.Helper()
	r, err := c.Register(role, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close(context.Background()) })
	return r
}

// TestRegisterResolveBalance registers two servers of one role and checks
// that a client of etcd:///<role> spreads its calls over both, that the key
// is in the endpoints manager's format, and that Close removes an instance,
// after which every call goes to the other.
func TestRegisterResolveBalance(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	var log logBuffer
	c := newClient(t, srv.Endpoints(), &log)
	addrA, _ := serveHealth(t)
	addrB, _ := serveHealth(t)
	regA := register(t, c, "echo", addrA)
	register(t, c, "echo", addrB)
	etcd := admin(t, srv)
	waitFor(t, "both registered", 10*time.Second, func() bool { return len(keys(t, etcd, "echo")) == 2 })
	if v := keys(t, etcd, "echo")[regA.Key()]; !strings.Contains(v, `"Addr":"`+addrA+`"`) {
		t.Errorf("value of %s = %s, want the endpoints manager's JSON with Addr %s", regA.Key(), v, addrA)
	}

	conn, err := c.Dial("etcd:///echo", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	seen := make(map[string]int)
	waitFor(t, "calls reach both instances", 10*time.Second, func() bool {
		who, err := check(t.Context(), conn)
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		seen[who]++
		return seen[addrA] > 0 && seen[addrB] > 0
	})

	if err := regA.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, ok := keys(t, etcd, "echo")[regA.Key()]; ok {
		t.Fatalf("%s still registered after Close", regA.Key())
	}
	// The resolver's watch removes A; once it has, every call goes to B.
	waitFor(t, "calls go to B only", 10*time.Second, func() bool {
		for range 10 {
			who, err := check(t.Context(), conn)
			if err != nil {
				t.Fatalf("call: %v", err)
			}
			if who != addrB {
				return false
			}
		}
		return true
	})
}

// TestEtcdDownAtStart starts a role while etcd is down: it serves, logs
// that it is not registered, and registers once etcd is up.
func TestEtcdDownAtStart(t *testing.T) {
	t.Parallel()
	srv := etcdtest.New(t) // not started
	var log logBuffer
	c := newClient(t, srv.Endpoints(), &log)
	addr, _ := serveHealth(t)
	reg := register(t, c, "gateway", addr)
	waitFor(t, "the log says etcd is unreachable", 15*time.Second, func() bool {
		return strings.Contains(log.String(), "etcd unreachable")
	})
	srv.Start()
	up := time.Now()
	etcd := admin(t, srv)
	waitFor(t, "registered after etcd came up", 20*time.Second, func() bool {
		_, ok := keys(t, etcd, "gateway")[reg.Key()]
		return ok
	})
	t.Logf("registered %s after etcd came up", time.Since(up).Round(time.Millisecond))
	waitFor(t, "the log says the role registered", 5*time.Second, func() bool {
		return strings.Contains(log.String(), "registered in etcd")
	})
}

// TestLeaseLost revokes a registration's lease, as an operator or an etcd
// that lost it would: the instance registers again under a new lease.
func TestLeaseLost(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	var log logBuffer
	c := newClient(t, srv.Endpoints(), &log)
	addr, _ := serveHealth(t)
	reg := register(t, c, "worker", addr)
	etcd := admin(t, srv)
	lease := func() clientv3.LeaseID {
		resp, err := etcd.Get(t.Context(), reg.Key())
		if err != nil || len(resp.Kvs) == 0 {
			return clientv3.NoLease
		}
		return clientv3.LeaseID(resp.Kvs[0].Lease)
	}
	waitFor(t, "registered", 10*time.Second, func() bool { return lease() != clientv3.NoLease })
	first := lease()
	if _, err := etcd.Revoke(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	took := waitFor(t, "registered again under a new lease", 10*time.Second, func() bool {
		l := lease()
		return l != clientv3.NoLease && l != first
	})
	t.Logf("re-registered %s after the lease was revoked", took.Round(time.Millisecond))
	if !strings.Contains(log.String(), "lease lost") {
		t.Errorf("log does not say the lease was lost:\n%s", log.String())
	}
}

// TestEtcdLostData restarts etcd empty, as after a lost disk: the
// registration's lease is unknown there, and the role registers again.
func TestEtcdLostData(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	var log logBuffer
	c := newClient(t, srv.Endpoints(), &log)
	addr, _ := serveHealth(t)
	reg := register(t, c, "registry", addr)
	etcd := admin(t, srv)
	waitFor(t, "registered", 10*time.Second, func() bool { return len(keys(t, etcd, "registry")) == 1 })
	srv.Stop()
	srv.Wipe()
	srv.Start()
	took := waitFor(t, "registered in the new etcd", 20*time.Second, func() bool {
		_, ok := keys(t, etcd, "registry")[reg.Key()]
		return ok
	})
	t.Logf("registered in the wiped etcd %s after it came up", took.Round(time.Millisecond))
}

// TestCloseWhileEtcdDown stops a role whose etcd is down: Close returns
// within its deadline and says the key will expire.
func TestCloseWhileEtcdDown(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	var log logBuffer
	c := newClient(t, srv.Endpoints(), &log)
	addr, _ := serveHealth(t)
	reg := register(t, c, "gateway", addr)
	etcd := admin(t, srv)
	waitFor(t, "registered", 10*time.Second, func() bool { return len(keys(t, etcd, "gateway")) == 1 })
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	err := reg.Close(ctx)
	if err == nil || !strings.Contains(err.Error(), "expires within") {
		t.Fatalf("Close with etcd down = %v, want an error saying the key expires", err)
	}
}

// TestDialErrors covers the targets a client can get wrong, and the two
// ways an etcd:/// target can have nobody to call: etcd down, and no
// instance registered. Both fail calls with UNAVAILABLE and a reason, not
// a hang.
func TestDialErrors(t *testing.T) {
	t.Parallel()
	off := newClient(t, nil, new(logBuffer))
	if _, err := off.Dial("etcd:///gateway"); !errors.Is(err, discovery.ErrDiscoveryOff) {
		t.Errorf("Dial etcd:/// without endpoints = %v, want ErrDiscoveryOff", err)
	}
	for _, target := range []string{"etcd://gateway", "etcd:///", "etcd:///a/b", "etcd:gateway"} {
		if _, err := off.Dial(target); err == nil || errors.Is(err, discovery.ErrDiscoveryOff) {
			t.Errorf("Dial %q = %v, want a malformed target error", target, err)
		}
	}
	// A plain address needs no etcd.
	addr, _ := serveHealth(t)
	conn, err := off.Dial(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if who, err := check(t.Context(), conn); err != nil || who != addr {
		t.Fatalf("plain target: %s, %v", who, err)
	}

	srv := etcdtest.New(t) // down for now
	c := newClient(t, srv.Endpoints(), new(logBuffer))
	down, err := c.Dial("etcd:///gateway", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer down.Close()
	waitFor(t, "UNAVAILABLE naming etcd", 15*time.Second, func() bool {
		_, err := check(t.Context(), down)
		return status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "gave no answer")
	})
	srv.Start()
	waitFor(t, "UNAVAILABLE naming the missing role", 15*time.Second, func() bool {
		_, err := check(t.Context(), down)
		return status.Code(err) == codes.Unavailable && strings.Contains(err.Error(), "no gateway instance is registered")
	})
	register(t, c, "gateway", addr)
	waitFor(t, "the registered instance answers", 15*time.Second, func() bool {
		who, err := check(t.Context(), down)
		return err == nil && who == addr
	})
}
