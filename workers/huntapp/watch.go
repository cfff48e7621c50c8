package huntapp

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// hub passes derived events, as the feed reads them, to the
// WatchPlayer streams of their players. Publishing never waits: a watcher
// whose buffer is full is dropped (its stream ends with RESOURCE_EXHAUSTED)
// rather than slowing the partitions down. It is safe for concurrent use.
type hub struct {
	size    int
	dropped prometheus.Counter

	mu   sync.Mutex
	subs map[string]map[*watcher]struct{} // by player id

	closing  chan struct{} // closed when the feed stops
	closeOne sync.Once
	live     chan struct{} // closed once the feed follows the derived topic
	liveOne  sync.Once
}

// watcher is one WatchPlayer stream.
type watcher struct {
	player, hunt string
	ch           chan *huntv1.WatchPlayerResponse
	gone         chan struct{} // closed when dropped for falling behind
}

func newHub(size int, dropped prometheus.Counter) *hub {
	return &hub{size: size, dropped: dropped, subs: make(map[string]map[*watcher]struct{}), closing: make(chan struct{}), live: make(chan struct{})}
}

// setLive says the feed follows the derived topic: streams may start.
func (h *hub) setLive() {
	h.liveOne.Do(func() { close(h.live) })
}

// close ends every stream, present and future: the feed is stopping.
func (h *hub) close() {
	h.closeOne.Do(func() { close(h.closing) })
}

func (h *hub) subscribe(player, hunt string) *watcher {
	w := &watcher{player: player, hunt: hunt, ch: make(chan *huntv1.WatchPlayerResponse, h.size), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[player] == nil {
		h.subs[player] = make(map[*watcher]struct{})
	}
	h.subs[player][w] = struct{}{}
	return w
}

func (h *hub) unsubscribe(w *watcher) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remove(w)
}

func (h *hub) remove(w *watcher) {
	ws := h.subs[w.player]
	if _, ok := ws[w]; !ok {
		return
	}
	delete(ws, w)
	if len(ws) == 0 {
		delete(h.subs, w.player)
	}
}

// publish hands a derived event to its player's watchers, and returns
// how many it was handed to.
func (h *hub) publish(resp *huntv1.WatchPlayerResponse, huntID, playerID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for w := range h.subs[playerID] {
		if w.hunt != "" && w.hunt != huntID {
			continue
		}
		select {
		case w.ch <- resp:
			n++
		default:
			h.remove(w)
			close(w.gone)
			h.dropped.Inc()
		}
	}
	return n
}
