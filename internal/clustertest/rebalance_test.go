package clustertest_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// huntStory is one hunt's events in the order they are published: players
// join, answer wrong and right, some finish.
func huntStory(huntID string, clues [3]string, players int) []proto.Message {
	created, _ := newHunt(huntID)
	for i := range created.GetClues() {
		created.Clues[i].ClueId = clues[i]
	}
	story := []proto.Message{created}
	ids := make([]string, players)
	for i := range ids {
		ids[i] = newID()
		story = append(story, &huntv1.PlayerJoinedHunt{HuntId: huntID, PlayerId: ids[i], JoinedAt: at(1)})
	}
	for i, p := range ids {
		m := float64(i%20) / 4
		story = append(story, answer(huntID, p, clues[0], "pine", 2+m))
		story = append(story, answer(huntID, p, clues[0], "oak", 3+m))
		if i%2 == 0 {
			story = append(story, answer(huntID, p, clues[1], "river", 10+m))
		}
		if i%4 == 0 {
			story = append(story, answer(huntID, p, clues[2], "bell", 20+m))
		}
	}
	return story
}

// TestRebalanceUnderLoad runs three workers in one group while hunts are
// played; one is stopped and another started in the middle. The final
// state must equal a single worker's, and no derived event may appear
// under two ids.
func TestRebalanceUnderLoad(t *testing.T) {
	needCluster(t)
	freshTopics(t)
	gwp := startGateway(t, "gateway", suite.brokers)
	gw := gatewayClient(t, gwp.addr)
	db, group := newDatabase(t), "rebalance-"+newID()
	w1 := startWorker(t, "worker-1", group, db)
	w2 := startWorker(t, "worker-2", group, db)
	startWorker(t, "worker-3", group, db)

	const hunts, players = 6, 24
	var stories [][]proto.Message
	var huntIDs []string
	total := 0
	for range hunts {
		id := newID()
		story := huntStory(id, [3]string{newID(), newID(), newID()}, players)
		stories, huntIDs = append(stories, story), append(huntIDs, id)
		total += len(story)
	}

	// Each hunt's story is published in order, one event at a time, paced
	// so that the load lasts about 15 seconds.
	pace := 15 * time.Second / time.Duration(len(stories[0]))
	var wg sync.WaitGroup
	errs := make([]error, hunts)
	t0 := time.Now()
	for i, story := range stories {
		wg.Go(func() {
			for _, m := range story {
				if _, err := publishRetrying(t.Context(), gw, event(t, newID(), m), time.Minute); err != nil {
					errs[i] = err
					return
				}
				time.Sleep(pace)
			}
		})
	}
	time.Sleep(5 * time.Second)
	if err := w1.stop(); err != nil {
		t.Errorf("worker-1 stop: %v", err)
	}
	stoppedAt := time.Since(t0)
	time.Sleep(2 * time.Second)
	startWorker(t, "worker-4", group, db)
	startedAt := time.Since(t0)
	wg.Wait()
	loadTook := time.Since(t0)
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	// The reference: one worker, its own group and database, over the same log.
	ref := startWorker(t, "reference", "reference-"+newID(), newDatabase(t))
	eventually(t, "reference applied everything", func() error {
		n, err := scrape(ref.admin, "cairn_worker_events_applied_total")
		if err == nil && n != float64(total) {
			err = fmt.Errorf("applied %v of %d", n, total)
		}
		return err
	})
	refHunts, groupHunts := huntClient(t, ref.addr), huntClient(t, w2.addr)
	boards := func(ctx context.Context, hs huntv1.HuntServiceClient) ([]*huntv1.GetLeaderboardResponse, error) {
		var out []*huntv1.GetLeaderboardResponse
		for _, id := range huntIDs {
			lb, err := hs.GetLeaderboard(ctx, &huntv1.GetLeaderboardRequest{HuntId: id, Limit: 100})
			if err != nil {
				return nil, err
			}
			out = append(out, lb)
		}
		return out, nil
	}
	want, err := boards(t.Context(), refHunts)
	if err != nil {
		t.Fatal(err)
	}
	caughtUp := time.Now()
	eventually(t, "the group's state equals the single worker's", func() error {
		got, err := boards(t.Context(), groupHunts)
		if err != nil {
			return err
		}
		if diff := cmp.Diff(want, got, protocmp.Transform()); diff != "" {
			return fmt.Errorf("leaderboards differ (-single +group):\n%s", diff)
		}
		return nil
	})

	// No derived event under two ids: the same derived payload always
	// carries the same event id. The reference worker derives the same
	// events from the same inputs, under the same ids.
	ids := make(map[string]map[string]bool)
	records := readAll(t, "cairn.hunt.derived")
	copies := 0
	seen := make(map[string]bool)
	for _, r := range records {
		k := r.eventType + "\x00" + string(r.value)
		if ids[k] == nil {
			ids[k] = make(map[string]bool)
		}
		ids[k][r.eventID] = true
		if seen[r.eventID] {
			copies++
		}
		seen[r.eventID] = true
	}
	twoIDs := 0
	for _, s := range ids {
		if len(s) > 1 {
			twoIDs++
		}
	}
	if twoIDs > 0 {
		t.Errorf("%d derived events appear under more than one id", twoIDs)
	}
	t.Logf("RESULT rebalance: %d events over %d hunts in %.1fs; worker-1 stopped at %.1fs, worker-4 started at %.1fs; "+
		"group state equal to a single worker's %.1fs after the reference caught up; %d derived records, %d distinct derived events, %d under two ids, %d records repeating an id (the reference worker derives the same events under the same ids)",
		total, hunts, loadTook.Seconds(), stoppedAt.Seconds(), startedAt.Seconds(), time.Since(caughtUp).Seconds(),
		len(records), len(ids), twoIDs, copies)
}
