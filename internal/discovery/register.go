package discovery

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/naming/endpoints"
)

// Registration keeps one instance of a role listed in etcd: it holds the
// key under a lease, keeps the lease alive, registers again with a new lease
// when the lease is lost (etcd was down longer than the TTL, lost its data,
// or the lease was revoked), and removes the key on Close. While etcd cannot
// be reached the instance keeps serving, unlisted, and says so in the log.
//
// Registration is safe for concurrent use.
type Registration struct {
	c    *Client
	role string
	id   string
	addr string
	log  *slog.Logger

	stop context.CancelFunc
	done chan struct{}
	// lease is the lease last granted, read after done closes.
	lease clientv3.LeaseID
}

// Register lists addr as an instance of role until Close, in the
// background: it returns at once, whether or not etcd answers. With
// discovery off it does nothing. addr is what clients dial: a listener's
// address whose host is unspecified (":50051", "0.0.0.0:50051") is listed
// under this machine's host name.
func (c *Client) Register(role, addr string) (*Registration, error) {
	if !validRole(role) {
		return nil, fmt.Errorf("register: role %q: want a name without '/'", role)
	}
	addr, err := advertised(addr)
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", role, err)
	}
	id, err := instanceID()
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", role, err)
	}
	ctx, stop := context.WithCancel(context.Background())
	r := &Registration{c: c, role: role, id: id, addr: addr, stop: stop, done: make(chan struct{})}
	if c.etcd == nil {
		close(r.done)
		return r, nil
	}
	r.log = c.opts.Logger.With("role", role, "key", r.Key(), "addr", addr)
	go r.run(ctx)
	return r, nil
}

// Key returns the etcd key of this instance.
func (r *Registration) Key() string { return Prefix + key(r.role, r.id) }

// Addr returns the address listed for this instance.
func (r *Registration) Addr() string { return r.addr }

// Close removes the instance from etcd (by revoking its lease) and stops
// keeping it listed. If etcd cannot be reached within ctx, the key expires
// with its lease instead, and Close says so.
func (r *Registration) Close(ctx context.Context) error {
	r.stop()
	<-r.done
	if r.c.etcd == nil || r.lease == clientv3.NoLease {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, r.c.opts.RequestTimeout)
	defer cancel()
	if _, err := r.c.etcd.Revoke(ctx, r.lease); err != nil {
		return fmt.Errorf("deregister %s (it expires within %s): %w", r.Key(), r.c.opts.TTL, err)
	}
	r.log.Info("deregistered from etcd")
	return nil
}

// run registers the instance and keeps it registered until ctx ends.
func (r *Registration) run(ctx context.Context) {
	defer close(r.done)
	const minWait, maxWait = 200 * time.Millisecond, 2 * time.Second
	wait := minWait
	unreachable := false // said so in the log already
	for {
		lease, err := r.register(ctx)
		if ctx.Err() != nil {
			r.lease = lease
			return
		}
		if err != nil {
			if !unreachable {
				r.log.Warn("etcd unreachable: serving without being registered; registering as soon as etcd answers", "error", err)
				unreachable = true
			}
			if !sleep(ctx, wait) {
				return
			}
			wait = min(2*wait, maxWait)
			continue
		}
		r.lease = lease
		r.log.Info("registered in etcd", "lease", fmt.Sprintf("%x", int64(lease)), "ttl", r.c.opts.TTL)
		unreachable, wait = false, minWait
		if !r.keepAlive(ctx, lease) {
			return
		}
		r.log.Warn("etcd lease lost; registering again", "lease", fmt.Sprintf("%x", int64(lease)))
		r.lease = clientv3.NoLease
	}
}

// register grants a lease and puts the instance's key under it. On error
// it returns the lease it granted, if any, so that a stop can revoke it.
func (r *Registration) register(ctx context.Context) (clientv3.LeaseID, error) {
	reqCtx, cancel := context.WithTimeout(ctx, r.c.opts.RequestTimeout)
	defer cancel()
	grant, err := r.c.etcd.Grant(reqCtx, int64((r.c.opts.TTL+time.Second-1)/time.Second))
	if err != nil {
		return clientv3.NoLease, fmt.Errorf("grant lease: %w", err)
	}
	em, err := endpoints.NewManager(r.c.etcd, r.role)
	if err != nil {
		return grant.ID, err
	}
	if err := em.AddEndpoint(reqCtx, key(r.role, r.id), endpoints.Endpoint{Addr: r.addr}, clientv3.WithLease(grant.ID)); err != nil {
		return grant.ID, fmt.Errorf("put %s: %w", r.Key(), err)
	}
	return grant.ID, nil
}

// keepAlive keeps lease alive until ctx ends (it returns false) or the lease
// is lost (true).
func (r *Registration) keepAlive(ctx context.Context, lease clientv3.LeaseID) bool {
	// The keep-alive channel closes when ctx ends, when etcd answers that
	// the lease is gone, or when no answer came for a whole TTL.
	ch, err := r.c.etcd.KeepAlive(ctx, lease)
	if err != nil {
		return ctx.Err() == nil
	}
	for range ch {
	}
	return ctx.Err() == nil
}

// sleep waits for d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// advertised returns the address clients should dial for a listener's
// address.
func advertised(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("address %q: %w", addr, err)
	}
	if port == "0" {
		return "", fmt.Errorf("address %q: register the listener's address, not port 0", addr)
	}
	if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
		return addr, nil
	}
	name, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("address %q listens on every interface, and the host name is unknown: %w", addr, err)
	}
	return net.JoinHostPort(name, port), nil
}

// instanceID returns a new id for an instance: the host name and random
// digits, so that two instances never share a key.
func instanceID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errors.New("no randomness for an instance id")
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "cairn"
	}
	return host + "-" + hex.EncodeToString(b[:]), nil
}
