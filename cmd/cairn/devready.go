package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/auth"
)

// devAddrs are where `cairn dev` serves each part.
type devAddrs struct {
	Gateway, Registry, Kafka, Admin string
	// NoHuntService: the gateway's port serves no HuntService (--no-workers).
	NoHuntService bool
}

// writeDevReady writes the block `cairn dev` prints once it is ready: where
// everything is, the dev API key, and the first command to try.
func writeDevReady(w io.Writer, a devAddrs) {
	publish := "cairn publish"
	if a.Gateway != "127.0.0.1:50051" {
		publish += " --gateway-addr " + a.Gateway
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\ncairn dev is ready.\n\n")
	services := "EventGateway, HuntService"
	if a.NoHuntService {
		services = "EventGateway; no workers, so no HuntService"
	}
	fmt.Fprintf(&b, "  gateway   %s  (gRPC: %s)\n", a.Gateway, services)
	fmt.Fprintf(&b, "  registry  http://%s  (Confluent REST and gRPC)\n", a.Registry)
	fmt.Fprintf(&b, "  kafka     %s\n", a.Kafka)
	fmt.Fprintf(&b, "  admin     http://%s/metrics  /healthz  /readyz\n", a.Admin)
	fmt.Fprintf(&b, "  console   http://%s/\n", a.Admin)
	fmt.Fprintf(&b, "  api key   %s  (role service; cairn publish sends it by default)\n\n", auth.DevAPIKey)
	fmt.Fprintf(&b, "Try, in another terminal:\n\n")
	fmt.Fprintf(&b, "  %s cairn.hunt.v1.PlayerRegistered \\\n", publish)
	fmt.Fprintf(&b, "    '{\"playerId\": \"5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01\", \"displayName\": \"Ada\", \"registeredAt\": \"2026-11-21T10:00:00Z\"}'\n\n")
	io.WriteString(w, b.String())
}

// announceReady waits until ready answers nil, checking every 100 ms, then
// writes the ready block to w; it returns without writing when ctx ends
// first.
func announceReady(ctx context.Context, w io.Writer, a devAddrs, ready func(context.Context) error) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		check, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := ready(check)
		cancel()
		if err == nil {
			writeDevReady(w, a)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
