package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/cairnhq/cairn/internal/bench"
)

// benchConfig is what cairn bench's flags fill; bench.Config is built from
// it.
type benchConfig struct {
	bench.Config
	Creds callerCredentials
	Etcd  etcdConfig
}

func (c *benchConfig) Validate() error {
	if err := c.Etcd.checkTarget("gateway-addr", c.GatewayAddr); err != nil {
		return err
	}
	if c.HuntAddr != "" {
		if err := c.Etcd.checkTarget("hunt-addr", c.HuntAddr); err != nil {
			return err
		}
	}
	return c.Config.Validate()
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg benchConfig
	modes := make([]string, len(bench.Modes))
	for i, m := range bench.Modes {
		modes[i] = string(m)
	}
	fs := newFlagSet("bench", "[flags] "+strings.Join(modes, "|"),
		"Drives load against a running gateway and prints events/s, latency percentiles\n"+
			"and errors by gRPC code:\n"+
			"  publish  unary Publish calls, one event each, from --concurrency callers\n"+
			"  batch    PublishBatch calls of --batch-size events\n"+
			"  stream   --concurrency PublishStream streams, --window events in flight each\n"+
			"  e2e      creates a hunt of --players players, watches each on WatchPlayer,\n"+
			"           publishes answers at --rate and times each until it is judged\n"+
			"With --direct, the same load then goes straight to Kafka (--kafka-brokers)\n"+
			"with the gateway's producer settings, and the table gives the gateway's rate\n"+
			"as a fraction of it. \"bench CPU/event\" is this process's own CPU time per\n"+
			"accepted event: on a machine it shares with the gateway, the cores it takes\n"+
			"from the path under test. Ctrl-C ends the run early and prints the table so\n"+
			"far, the events then in flight counted apart.\n\n"+
			"Example, against cairn dev:\n"+
			"  cairn bench --duration 20s --direct publish",
		stderr)
	fs.StringVar(&cfg.GatewayAddr, "gateway-addr", "127.0.0.1:50051", "gateway gRPC address, or etcd:///gateway")
	fs.StringVar(&cfg.HuntAddr, "hunt-addr", "", "e2e: HuntService gRPC address (a worker's --grpc-addr), or etcd:///worker (default: --gateway-addr, where cairn dev serves it)")
	fs.StringVar(&cfg.KafkaBrokers, "kafka-brokers", "127.0.0.1:9092", "Kafka bootstrap servers for --direct, host:port separated by commas")
	fs.BoolVar(&cfg.Direct, "direct", false, "also run the load straight to Kafka and print the ratio (publish, batch, stream)")
	fs.IntVar(&cfg.Concurrency, "concurrency", 0, "callers, or streams in stream mode (default 64 for publish and e2e, 8 for batch, 4 for stream)")
	fs.IntVar(&cfg.Connections, "connections", 4, "gRPC connections the callers share")
	fs.IntVar(&cfg.Events, "events", 0, "events to send (default: send for --duration)")
	fs.DurationVar(&cfg.Duration, "duration", 0, "how long to send when --events is not given (default 10s)")
	fs.Float64Var(&cfg.Rate, "rate", 0, "target events per second over all callers; 0 is as fast as they go (default 1000 for e2e)")
	fs.IntVar(&cfg.Window, "window", 1000, "events in flight per stream")
	fs.IntVar(&cfg.BatchSize, "batch-size", 100, "events per PublishBatch call")
	fs.IntVar(&cfg.Players, "players", 100, "players in the e2e hunt")
	fs.DurationVar(&cfg.Timeout, "timeout", 10*time.Second, "deadline of each call, and how long e2e waits for the last judgements")
	cfg.Creds.register(fs)
	cfg.Etcd.registerClient(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("want one mode of %s, got %d arguments", strings.Join(modes, ", "), fs.NArg())}
	}
	cfg.Mode = bench.Mode(fs.Arg(0))
	if err := cfg.Validate(); err != nil {
		return usageError{err}
	}
	cfg.Metadata = cfg.Creds.metadata()
	disc, err := cfg.Etcd.client(slog.Default())
	if err != nil {
		return err
	}
	defer disc.Close()
	cfg.Dial = disc.Dial
	if isTerminal(stdout) {
		cfg.Progress = stdout
	}
	rep, err := bench.Run(ctx, cfg.Config)
	if err != nil {
		return err
	}
	return rep.WriteTable(stdout)
}

// isTerminal reports whether w is a terminal, where a progress line may
// be rewritten in place.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
