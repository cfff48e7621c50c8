package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/discovery"
)

// etcdConfig is the service discovery flags: every role registers in etcd
// with them, and every client resolves etcd:///ROLE targets with them.
type etcdConfig struct {
	Endpoints string
	TTL       time.Duration
}

// registerClient adds the flag of commands that only call other roles.
func (c *etcdConfig) registerClient(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoints, "etcd-endpoints", "", "etcd endpoints, host:port separated by commas, to resolve etcd:///ROLE addresses")
}

// registerRole adds the flags of a role, which registers itself in etcd.
func (c *etcdConfig) registerRole(fs *flag.FlagSet) {
	fs.StringVar(&c.Endpoints, "etcd-endpoints", "", "etcd endpoints, host:port separated by commas: register this role under "+discovery.Prefix+"ROLE/ and resolve etcd:///ROLE addresses (off by default)")
	fs.DurationVar(&c.TTL, "etcd-ttl", discovery.DefaultTTL, "lease of the etcd registration: how long an instance that died stays listed")
}

func (c *etcdConfig) endpoints() []string {
	var eps []string
	for _, e := range strings.Split(c.Endpoints, ",") {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	return eps
}

// Validate checks the flags; a TTL left at zero by a client command is
// the default.
func (c *etcdConfig) Validate() error {
	if c.TTL != 0 && c.TTL < time.Second {
		return fmt.Errorf("--etcd-ttl %s: want at least 1s", c.TTL)
	}
	return nil
}

// checkTarget checks an address flag that names a server to call: a
// host:port, or etcd:///ROLE when --etcd-endpoints is set.
func (c *etcdConfig) checkTarget(flagName, target string) error {
	_, isEtcd, err := discovery.ParseTarget(target)
	switch {
	case err != nil:
		return fmt.Errorf("--%s: %w", flagName, err)
	case isEtcd && len(c.endpoints()) == 0:
		return fmt.Errorf("--%s %s: needs --etcd-endpoints", flagName, target)
	case isEtcd:
		return nil
	}
	return checkAddr(flagName, target)
}

// client returns the discovery client of these flags; with no endpoints it
// dials plain addresses only and registers nothing.
func (c *etcdConfig) client(log *slog.Logger) (*discovery.Client, error) {
	return discovery.New(discovery.Options{Endpoints: c.endpoints(), TTL: c.TTL, Logger: log})
}

// announce registers a process's roles in etcd, when discovery is on:
// roleAddrs is role, listening address, role, address…. The returned func
// removes them, and is called first on shutdown, so that clients move to
// other instances before this one stops.
func announce(disc *discovery.Client, log *slog.Logger, roleAddrs ...string) (deregister func(context.Context), err error) {
	var regs []*discovery.Registration
	deregister = func(ctx context.Context) {
		for _, r := range regs {
			if err := r.Close(ctx); err != nil {
				log.Warn("etcd", "error", err)
			}
		}
	}
	if !disc.Enabled() {
		return deregister, nil
	}
	for i := 0; i+1 < len(roleAddrs); i += 2 {
		r, err := disc.Register(roleAddrs[i], roleAddrs[i+1])
		if err != nil {
			deregister(context.Background())
			return nil, fmt.Errorf("etcd: %w", err)
		}
		regs = append(regs, r)
	}
	return deregister, nil
}
