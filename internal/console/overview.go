package console

import (
	"net/http"
	"sort"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cairnhq/cairn/internal/inspect"
)

// eventsMetric counts the gateway's answers by type and outcome.
const eventsMetric = "cairn_gateway_events_total"

// overviewData is the overview page's live part.
type overviewData struct {
	At          time.Time
	Health      []Check
	Rates       []rate
	RatesErr    string
	Lag         []lagRow
	LagGroup    string
	LagErr      string
	DeadByWhy   []inspect.Group
	DeadErr     string
	HasCluster  bool
	DeadLetters int
}

type lagRow struct {
	Topic     string
	Partition int32
	High      int64
	Committed string
	Lag       int64
}

func (c *Console) overview(w http.ResponseWriter, r *http.Request) {
	c.render(w, r, http.StatusOK, "overview", "overview", true, c.overviewData(r))
}

// overviewLive is the overview's live part alone, for the page's refresh.
func (c *Console) overviewLive(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := c.pages["overview"].ExecuteTemplate(w, "live", c.overviewData(r)); err != nil {
		c.cfg.Logger.Warn("console: render overview", "error", err)
	}
}

func (c *Console) overviewData(r *http.Request) overviewData {
	ctx, cancel := c.ctx(r)
	defer cancel()
	d := overviewData{At: time.Now().UTC(), HasCluster: c.cfg.Cluster != nil, LagGroup: c.cfg.LagGroup}
	var wg sync.WaitGroup
	if c.cfg.Health != nil {
		wg.Go(func() { d.Health = c.cfg.Health(ctx) })
	}
	if c.cfg.Metrics != nil {
		wg.Go(func() {
			mfs, err := c.cfg.Metrics.Gather()
			if err != nil {
				d.RatesErr = err.Error()
				return
			}
			d.Rates = c.rates.update(time.Now(), mfs)
		})
	}
	if c.cfg.Cluster != nil {
		if c.cfg.LagGroup != "" && len(c.cfg.LagTopics) > 0 {
			wg.Go(func() {
				ps, err := c.cfg.Cluster.Lag(ctx, c.cfg.LagGroup, c.cfg.LagTopics)
				if err != nil {
					d.LagErr = err.Error()
					return
				}
				for _, p := range ps {
					row := lagRow{Topic: p.Topic, Partition: p.Partition, High: p.High, Committed: "none", Lag: p.High - p.Low}
					if p.Committed >= 0 {
						row.Committed = itoa(p.Committed)
						row.Lag = max(p.High-p.Committed, 0)
					}
					d.Lag = append(d.Lag, row)
				}
			})
		}
		wg.Go(func() {
			ds, _, err := c.cfg.Cluster.DeadLetters(ctx, inspect.Filter{})
			if err != nil {
				d.DeadErr = err.Error()
				return
			}
			d.DeadLetters = len(ds)
			d.DeadByWhy = inspect.Groups(ds)
		})
	}
	wg.Wait()
	return d
}

// rate is one event type's answers per second since the previous look,
// and in all.
type rate struct {
	Type                         string
	AcceptedPerSec, RejectedPer  float64
	AcceptedTotal, RejectedTotal float64
}

// rates turns the gateway's counters into per-second rates between two
// looks. It is safe for concurrent use.
type rates struct {
	mu   sync.Mutex
	at   time.Time
	prev map[[2]string]float64 // (type, outcome) -> count
}

func newRates() *rates { return &rates{} }

func (r *rates) update(now time.Time, mfs []*dto.MetricFamily) []rate {
	cur := make(map[[2]string]float64)
	for _, mf := range mfs {
		if mf.GetName() != eventsMetric {
			continue
		}
		for _, m := range mf.GetMetric() {
			var typ, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "type":
					typ = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			cur[[2]string{typ, outcome}] += m.GetCounter().GetValue()
		}
	}
	r.mu.Lock()
	prev, at := r.prev, r.at
	r.prev, r.at = cur, now
	r.mu.Unlock()
	secs := now.Sub(at).Seconds()
	byType := make(map[string]*rate)
	for k, v := range cur {
		rt := byType[k[0]]
		if rt == nil {
			rt = &rate{Type: k[0]}
			byType[k[0]] = rt
		}
		per := 0.0
		if prev != nil && secs > 0 {
			per = max(v-prev[k], 0) / secs
		}
		if k[1] == "accepted" {
			rt.AcceptedTotal, rt.AcceptedPerSec = v, per
		} else {
			rt.RejectedTotal += v
			rt.RejectedPer += per
		}
	}
	out := make([]rate, 0, len(byType))
	for _, rt := range byType {
		out = append(out, *rt)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Type < out[j].Type })
	return out
}
