package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// progress rewrites a line on cfg.Progress twice a second until the
// returned stop is called, which clears the line.
func (r *runner) progress(path string, start time.Time) (stop func()) {
	w := r.cfg.Progress
	if w == nil {
		return func() {}
	}
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-quit:
				fmt.Fprint(w, "\r\033[K")
				return
			case <-tick.C:
			}
			accepted := r.live.accepted.Load()
			fmt.Fprintf(w, "\r\033[K%s %s: %s sent, %s accepted, %s errors, %s events/s",
				r.cfg.Mode, path, count(r.live.sent.Load()), count(accepted), count(r.live.failed.Load()),
				count(int64(float64(accepted)/time.Since(start).Seconds())))
		}
	})
	return func() {
		close(quit)
		wg.Wait()
	}
}

// WriteTable prints the report: one row per path, the errors by code, and
// the gateway's rate as a fraction of direct Kafka's when both ran.
func (rep *Report) WriteTable(w io.Writer) error {
	c := rep.Config
	var what string
	switch c.Mode {
	case Publish:
		what = fmt.Sprintf("%d callers, one event per call", c.Concurrency)
	case Batch:
		what = fmt.Sprintf("%d callers, %d events per call", c.Concurrency, c.BatchSize)
	case Stream:
		what = fmt.Sprintf("%d streams, %d events in flight each", c.Concurrency, c.Window)
	case E2E:
		what = fmt.Sprintf("%d callers answering for %d players", c.Concurrency, c.Players)
	}
	if c.Rate > 0 {
		what += fmt.Sprintf(", target %s events/s", count(int64(c.Rate)))
	}
	fmt.Fprintf(w, "cairn bench %s: %s over %d connections to %s; events of %d bytes\n\n",
		c.Mode, what, c.Connections, c.GatewayAddr, rep.EventBytes)
	if c.Mode == E2E {
		fmt.Fprintln(w, "gateway: from each answer's Publish call to its answer; judged: to its AnswerJudged on WatchPlayer")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tsent\taccepted\terrors\tevents/s\tp50\tp90\tp99\tmax\tbench CPU/event\t")
	for _, r := range rep.Results {
		l := &r.Latency
		cpu := "-"
		if c := r.CPUPerEvent(); c > 0 {
			cpu = fmt.Sprintf("%.1fµs", float64(c)/float64(time.Microsecond))
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Path, r.Sent, r.Accepted, r.Failed(),
			count(int64(r.Rate())), ms(l.Quantile(0.5)), ms(l.Quantile(0.9)), ms(l.Quantile(0.99)), ms(l.Max()), cpu)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range rep.Results {
		if len(r.Errors) == 0 {
			continue
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(r.Errors)) {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Errors[k]))
		}
		fmt.Fprintf(w, "\n%s errors: %s", r.Path, strings.Join(parts, ", "))
	}
	if rep.Interrupted {
		var parts []string
		for _, r := range rep.Results {
			if r.Interrupted > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", r.Path, r.Interrupted))
			}
		}
		fmt.Fprint(w, "\ninterrupted: the rows cover the run until then")
		if len(parts) > 0 {
			fmt.Fprintf(w, "; events in flight, counted neither accepted nor errors: %s", strings.Join(parts, ", "))
		}
		if c.Direct && c.Mode != E2E && len(rep.Results) < 2 {
			fmt.Fprint(w, "; the direct run did not start")
		}
	}
	if len(rep.Results) == 2 && rep.Results[1].Path == "direct" && rep.Results[1].Rate() > 0 {
		fmt.Fprintf(w, "\nratio gateway/direct: %.2f×", rep.Results[0].Rate()/rep.Results[1].Rate())
	}
	_, err := fmt.Fprintln(w)
	return err
}

// ms prints a latency in milliseconds.
func ms(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}

// count prints n with thousands separators.
func count(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + count(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
