package bench

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBucketBounds(t *testing.T) {
	t.Parallel()
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 257, 1000, 1 << 20, 1<<20 + 12345, 1<<40 - 1, 1 << 62} {
		i := bucket(v)
		if lo, next := lowest(i), lowest(i+1); v < lo || v >= next {
			t.Errorf("value %d in bucket %d = [%d, %d)", v, i, lo, next)
		}
		if i > 0 && bucket(lowest(i)-1) != i-1 {
			t.Errorf("bucket %d does not follow bucket %d", i, i-1)
		}
	}
}

// TestQuantilesMatchSortedSample compares the histogram with the exact
// quantiles of a sorted sample of random latencies.
func TestQuantilesMatchSortedSample(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var a, b Histogram
	sample := make([]time.Duration, 100_000)
	for i := range sample {
		// Log-normal-ish: mostly around a millisecond, a long tail.
		d := time.Duration(float64(time.Millisecond) * r.ExpFloat64() * r.ExpFloat64())
		sample[i] = d
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	slices.Sort(sample)
	if a.Count() != uint64(len(sample)) {
		t.Fatalf("Count = %d, want %d", a.Count(), len(sample))
	}
	if a.Max() != sample[len(sample)-1] {
		t.Errorf("Max = %s, want %s", a.Max(), sample[len(sample)-1])
	}
	for _, q := range []float64{0, 0.5, 0.9, 0.99, 0.999, 1} {
		rank := max(int(q*float64(len(sample))+0.999999), 1)
		want := sample[rank-1]
		got := a.Quantile(q)
		if got < want || float64(got-want) > float64(want)/128+1 {
			t.Errorf("Quantile(%v) = %s, want %s within 1/128 above", q, got, want)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	t.Parallel()
	var h Histogram
	if h.Quantile(0.5) != 0 || h.Max() != 0 || h.Count() != 0 {
		t.Errorf("empty histogram: p50 %s, max %s, count %d", h.Quantile(0.5), h.Max(), h.Count())
	}
	h.Record(-time.Second)
	h.Record(3 * time.Millisecond)
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("p50 of {-1s, 3ms} = %s, want 0 (negative counts as zero)", got)
	}
	if got := h.Quantile(1); got != 3*time.Millisecond {
		t.Errorf("p100 = %s, want exactly the max 3ms", got)
	}
	var empty Histogram
	h.Merge(&empty)
	empty.Merge(&h)
	if empty.Count() != 2 || empty.Max() != 3*time.Millisecond {
		t.Errorf("merged into empty: count %d max %s", empty.Count(), empty.Max())
	}
}
