package bench

import (
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
)

// Mode is the kind of load a run drives.
type Mode string

// The modes.
const (
	// Publish calls EventGateway.Publish, one event per call, from
	// Concurrency callers that each wait for their answer.
	Publish Mode = "publish"
	// Batch calls EventGateway.PublishBatch with BatchSize events a call.
	Batch Mode = "batch"
	// Stream opens Concurrency PublishStream streams, each keeping Window
	// events in flight.
	Stream Mode = "stream"
	// E2E plays a hunt: it creates one with Players players through the
	// gateway, watches each player on HuntService.WatchPlayer, publishes
	// answers at Rate and measures until each answer's judgement arrives.
	E2E Mode = "e2e"
)

// Modes lists every mode, in the order the usage text gives them.
var Modes = []Mode{Publish, Batch, Stream, E2E}

// Config says what a run does. Zero fields take the defaults noted.
type Config struct {
	// Mode is the load to drive.
	Mode Mode
	// GatewayAddr is the gateway's gRPC address: host:port, or any target
	// Dial takes.
	GatewayAddr string
	// HuntAddr is HuntService's gRPC address, which e2e watches players
	// on: a worker's. Default GatewayAddr (cairn dev serves HuntService on
	// the gateway's port).
	HuntAddr string
	// Dial opens a connection to GatewayAddr or HuntAddr. Default:
	// grpc.NewClient.
	Dial func(target string, opts ...grpc.DialOption) (*grpc.ClientConn, error)
	// Metadata is sent with every call: the caller's credentials, as
	// key, value pairs.
	Metadata []string
	// Direct also runs the same load straight to Kafka (publish, batch and
	// stream only), to compare the gateway's rate with the client's own.
	Direct bool
	// KafkaBrokers is the bootstrap list for Direct.
	KafkaBrokers string
	// Concurrency is the number of callers (publish, batch, e2e) or streams
	// (stream). Default 64 for publish and e2e, 8 for batch, 4 for stream.
	Concurrency int
	// Connections is the number of gRPC connections the callers share.
	// Default 4.
	Connections int
	// Events is how many events to send; when zero, the run lasts Duration.
	Events int
	// Duration is how long to send when Events is zero. Default 10 s.
	Duration time.Duration
	// Rate is the target events per second over all callers; zero means as
	// fast as they go. Default 1,000 for e2e.
	Rate float64
	// Window is how many events each stream keeps in flight. Default 1,000.
	Window int
	// BatchSize is the events per PublishBatch call. Default 100.
	BatchSize int
	// Players is how many players the e2e hunt has. Default 100.
	Players int
	// Timeout bounds each call, and how long e2e waits for the last
	// judgements. Default 10 s.
	Timeout time.Duration
	// Progress, when not nil, receives a progress line, rewritten in
	// place twice a second (for a terminal).
	Progress io.Writer
}

func (c *Config) setDefaults() {
	if c.Concurrency == 0 {
		c.Concurrency = map[Mode]int{Publish: 64, Batch: 8, Stream: 4, E2E: 64}[c.Mode]
	}
	if c.Connections == 0 {
		c.Connections = 4
	}
	if c.Events == 0 && c.Duration == 0 {
		c.Duration = 10 * time.Second
	}
	if c.Rate == 0 && c.Mode == E2E {
		c.Rate = 1000
	}
	if c.Window == 0 {
		c.Window = 1000
	}
	if c.BatchSize == 0 {
		c.BatchSize = 100
	}
	if c.Players == 0 {
		c.Players = 100
	}
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
}

// Validate reports what is wrong with c once its defaults are filled in.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	switch c.Mode {
	case Publish, Batch, Stream, E2E:
	default:
		errs = append(errs, fmt.Errorf("mode %q: want one of %v", c.Mode, Modes))
	}
	if c.GatewayAddr == "" {
		errs = append(errs, errors.New("no gateway address"))
	}
	if c.HuntAddr != "" && c.Mode != E2E {
		errs = append(errs, fmt.Errorf("hunt address: only e2e watches HuntService, not %s", c.Mode))
	}
	if c.Direct && c.Mode == E2E {
		errs = append(errs, errors.New("direct: e2e measures the worker's judgements, which only the gateway's path produces; use publish, batch or stream"))
	}
	if c.Direct && c.KafkaBrokers == "" {
		errs = append(errs, errors.New("direct: no Kafka brokers"))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"concurrency", c.Concurrency}, {"connections", c.Connections}, {"window", c.Window}, {"batch size", c.BatchSize}, {"players", c.Players}} {
		if f.v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: want at least 1", f.name, f.v))
		}
	}
	if c.Events < 0 || c.Duration < 0 || c.Rate < 0 || c.Timeout < 0 {
		errs = append(errs, errors.New("events, duration, rate and timeout may not be negative"))
	}
	if c.Events > 0 && c.Duration > 0 {
		errs = append(errs, errors.New("give an event count or a duration, not both"))
	}
	return errors.Join(errs...)
}
