package bench

import (
	"math/bits"
	"time"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits buckets, so a recorded value is off by less than 1/128 (0.8 %).
const subBits = 7

// Histogram records latencies in log-linear buckets, as HDR histograms do:
// exact below 128 ns, then 128 buckets per power of two. It keeps the
// exact maximum. Its memory does not grow with the number of values.
//
// A Histogram is not safe for concurrent use: give each goroutine its own
// and Merge them.
type Histogram struct {
	counts []uint64
	n      uint64
	max    time.Duration
}

// bucket returns the index of the bucket holding v.
func bucket(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	msb := bits.Len64(v) - 1
	mantissa := v >> (msb - subBits) // in [2^subBits, 2^(subBits+1))
	return (msb-subBits+1)<<subBits + int(mantissa) - 1<<subBits
}

// lowest returns the smallest value in bucket i.
func lowest(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	octave := i >> subBits
	return (1<<subBits + uint64(i)&(1<<subBits-1)) << (octave - 1)
}

// Record adds one latency; negative ones count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	i := bucket(uint64(d))
	if i >= len(h.counts) {
		h.counts = append(h.counts, make([]uint64, i+1-len(h.counts))...)
	}
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds o's values to h.
func (h *Histogram) Merge(o *Histogram) {
	if len(o.counts) > len(h.counts) {
		h.counts = append(h.counts, make([]uint64, len(o.counts)-len(h.counts))...)
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count returns how many values were recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max returns the largest value recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the value below which the fraction q (0 to 1) of the
// recorded values fall: the highest value of the bucket holding the value
// of that rank, never above Max. It returns 0 when nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(q*float64(h.n) + 0.999999) // ceil, without float surprises at q = 1
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(lowest(i+1)-1), h.max)
		}
	}
	return h.max
}
