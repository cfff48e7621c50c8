package main

import (
	"sync/atomic"
	"testing"
	"time"
)

// TestIdleMemoryReleasesOnceQuietAfterLoad walks the watcher through a
// load, the quiet after it, and a trickle: it releases on the first quiet
// look after a load, not again until another load's worth of allocation,
// and never while busy.
func TestIdleMemoryReleasesOnceQuietAfterLoad(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	m := &idleMemory{quietBytes: 4 * mib, busyBytes: 64 * mib}
	var allocated uint64
	steps := []struct {
		name        string
		allocate    uint64
		wantRelease bool
	}{
		{"idle", 0, false},
		{"load", 500 * mib, false},
		{"load", 500 * mib, false},
		{"quiet after the load", mib, true},
		{"still quiet", 0, false},
		{"a short burst", 10 * mib, false},
		{"quiet after too little", 0, false},
	}
	for i := range 18 {
		steps = append(steps, struct {
			name        string
			allocate    uint64
			wantRelease bool
		}{"trickle", 3 * mib, i == 17}) // 64 MiB since the release at the 18th
	}
	for i, s := range steps {
		allocated += s.allocate
		release := m.observe(allocated)
		if release != s.wantRelease {
			t.Errorf("look %d (%s, %d MiB allocated): release %v, want %v", i, s.name, allocated/mib, release, s.wantRelease)
		}
		if release {
			m.released = allocated
		}
	}
}

// TestIdleMemoryRunStops: the watcher releases after a load on its own
// ticker and returns when stopped.
func TestIdleMemoryRunStops(t *testing.T) {
	t.Parallel()
	var reads atomic.Int64
	released := make(chan struct{}, 1)
	m := &idleMemory{
		interval: time.Millisecond, quietBytes: 1, busyBytes: 100,
		read: func() uint64 { // a load of 1,000 bytes right after the first look
			if reads.Add(1) == 1 {
				return 0
			}
			return 1000
		},
		release: func() {
			select {
			case released <- struct{}{}:
			default:
			}
		},
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.run(stop)
	}()
	select {
	case <-released:
	case <-time.After(10 * time.Second):
		t.Error("no release after a load and a quiet interval")
	}
	close(stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return when stopped")
	}
}
