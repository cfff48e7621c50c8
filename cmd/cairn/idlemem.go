package main

import (
	"context"
	"net"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// idleMemory hands the Go heap's free pages back to the operating system
// when the process goes quiet after a busy spell. Go keeps up to twice the
// live heap (GOGC=100) and its scavenger returns pages only above that
// goal, so a gateway that served a load keeps its peak heap for as long as
// it stays idle: about 20 MB over its idle size after a full-speed load,
// with 15 MB live. A quiet interval after at least busyBytes of allocation
// collects once and returns what is free (debug.FreeOSMemory: one full
// GC, a few milliseconds at this heap size); a busy process is never
// interrupted.
type idleMemory struct {
	interval   time.Duration // how often to look
	quietBytes uint64        // allocated within one interval, below which the process is quiet
	busyBytes  uint64        // allocated since the last release, above which a release is worth it
	// read returns the bytes allocated on the heap since the process
	// started; release returns free memory to the system.
	read    func() uint64
	release func()

	last     uint64 // the counter at the last look
	released uint64 // the counter after the last release
}

func newIdleMemory() *idleMemory {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}}
	return &idleMemory{
		interval:   5 * time.Second,
		quietBytes: 4 << 20,
		busyBytes:  64 << 20,
		read: func() uint64 {
			metrics.Read(sample)
			return sample[0].Value.Uint64()
		},
		release: debug.FreeOSMemory,
	}
}

// component runs the watcher until the role stops.
func (m *idleMemory) component() component {
	stop := make(chan struct{})
	return component{
		name:  "idle memory release",
		serve: func(net.Listener) error { m.run(stop); return nil },
		stop: func(ctx context.Context) error {
			close(stop)
			return nil
		},
	}
}

// run looks every interval until stop is closed.
func (m *idleMemory) run(stop <-chan struct{}) {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	m.last = m.read()
	m.released = m.last
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if m.observe(m.read()) {
			m.release()
			m.released = m.read()
			m.last = m.released
		}
	}
}

// observe takes the heap's allocation counter at one look and reports
// whether to release now: the last interval was quiet, after enough
// allocation since the last release to be worth a collection.
func (m *idleMemory) observe(allocated uint64) bool {
	quiet := allocated-m.last < m.quietBytes
	m.last = allocated
	return quiet && allocated-m.released >= m.busyBytes
}
