package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleBadInput: requests for things that do not exist, or that are
// malformed, get a 4xx page, never a 500.
func TestConsoleBadInput(t *testing.T) {
	s := startDev(t)
	base := "http://" + s.admin
	for _, tt := range []struct {
		method, path string
		form         url.Values
		status       int
		want         string
	}{
		{"GET", "/", nil, 200, "Pipeline"},
		{"GET", "/subjects", nil, 200, "cairn.hunt.v1.HuntCreated"},
		{"GET", "/subjects/cairn.hunt.v1.HuntCreated", nil, 200, "message HuntCreated"},
		{"GET", "/subjects/cairn.hunt.v1.Nope", nil, 404, "no subject &#34;cairn.hunt.v1.Nope&#34;"},
		{"GET", "/subjects/cairn.hunt.v1.HuntCreated?version=x", nil, 400, "not a version number"},
		{"GET", "/subjects/cairn.hunt.v1.HuntCreated?version=99", nil, 404, "has no version 99"},
		{"GET", "/tail?topic=cairn.player.events&from=-3", nil, 400, "Malformed start"},
		{"GET", "/tail?topic=cairn.player.events&from=soon", nil, 400, "Malformed start"},
		{"GET", "/tail?topic=cairn.nope", nil, 404, "There is no topic"},
		{"GET", "/tail/stream?topic=cairn.player.events&from=x", nil, 400, "want end, beginning or an offset"},
		{"GET", "/tail/stream?topic=cairn.nope", nil, 404, "no such topic"},
		{"GET", "/nowhere", nil, 404, "There is no page at /nowhere"},
		{"POST", "/deadletters/replay", url.Values{"id": {"one"}}, 400, "PARTITION:OFFSET"},
		{"POST", "/deadletters/replay", url.Values{}, 400, "No dead letter was selected"},
		{"POST", "/deadletters/replay", url.Values{"id": {"0:12345"}, "confirm": {"yes"}}, 200, "no dead letter 0:12345"},
	} {
		var resp *http.Response
		var err error
		if tt.method == "POST" {
			resp, err = http.PostForm(base+tt.path, tt.form)
		} else {
			resp, err = http.Get(base + tt.path)
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.want) {
			t.Errorf("%s %s = %d, want %d with %q:\n%.600s", tt.method, tt.path, resp.StatusCode, tt.status, tt.want, body)
		}
	}
	// A replay form posted from another site is refused.
	req, _ := http.NewRequest("POST", base+"/deadletters/replay", strings.NewReader("id=0:0&confirm=yes"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site replay got %d, want 403", resp.StatusCode)
	}
}

// chromium returns the path of a Chromium to drive, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestConsoleInBrowser drives the console of a running cairn dev in
// headless Chromium: it sees the subjects, sees the counters move when an
// event is published, replays a dead letter from the page, tails a topic,
// and saves a screenshot under build/.
func TestConsoleInBrowser(t *testing.T) {
	exe := chromium()
	if exe == "" {
		t.Skip("no chromium on PATH: install Debian's chromium package (.ci/run does) to run the console in a real browser")
	}
	s := startDev(t)
	base := "http://" + s.admin

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 1600),
		chromedp.UserDataDir(t.TempDir()))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	// The first call starts the browser, which lives as long as its
	// context: no timeout on that one; each step below has its own.
	if err := chromedp.Do(browser, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	step := func() (context.Context, context.CancelFunc) { return context.WithTimeout(browser, time.Minute) }
	do := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		ctx, cancel := step()
		defer cancel()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	eval := func(expr string) (string, error) {
		ctx, cancel := step()
		defer cancel()
		return chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	}
	// text waits until the element's text contains want, or fails.
	text := func(sel, want string) {
		t.Helper()
		var got string
		var err error
		deadline := time.Now().Add(45 * time.Second)
		for {
			got, err = eval(`(function(){const e=document.querySelector(` + jsString(sel) + `);return e?e.textContent:""})()`)
			if err == nil && strings.Contains(got, want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: text %q, want %q (err %v)", sel, got, want, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// The overview: every component ready.
	do("open the overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#h-health")))
	text("#live", "gateway")
	text("#live table", "ready")

	// The schemas.
	do("open the schemas", chromedp.Navigate(base+"/subjects"), chromedp.WaitVisible(chromedp.CSS("#subjects")))
	text("#subjects", "cairn.hunt.v1.HuntCreated")
	do("open a subject", chromedp.Click(chromedp.CSS(`a[href="/subjects/cairn.hunt.v1.HuntCreated"]`)), chromedp.WaitVisible(chromedp.CSS("#compatibility")))
	text("#compatibility", "BACKWARD")
	text("pre.schema", "message HuntCreated")

	// Counters move without a reload.
	do("back to the overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#h-events")))
	if _, err := eval(`window.notReloaded = "yes"`); err != nil {
		t.Fatal(err)
	}
	s.publish(t, "cairn.hunt.v1.PlayerRegistered", `{"playerId": "5b6e0c1e-8f0a-4c1e-9a59-0f4b2f8f6a01", "displayName": "Ada", "registeredAt": "2026-11-21T10:00:00Z"}`)
	text(`tr[data-type="cairn.hunt.v1.PlayerRegistered"] td.accepted`, "1")
	if same, err := eval(`String(window.notReloaded)`); err != nil || same != "yes" {
		t.Error("the overview reloaded itself instead of updating in place")
	}

	// A dead letter, its cause fixed, replayed from the page.
	id := s.nextSchemaID(t)
	hunt := s.poisonHunt(t, id, "6a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c9d")
	var dls []map[string]any
	waitFor(t, "the dead letter", func() bool { dls = s.deadLetters(t); return len(dls) == 1 })
	dl := dls[0]["id"].(string)
	text("#dead-groups", "unknown_schema")
	if got := s.registerHuntCreatedV2(t); got != id {
		t.Fatalf("the new schema got id %d, the poisoned record says %d", got, id)
	}
	do("open the dead letters", chromedp.Navigate(base+"/deadletters"), chromedp.WaitVisible(chromedp.CSS("#deadletters")))
	text("#deadletters", "decodes as cairn.hunt.v1.HuntCreated")
	do("ask to replay it", chromedp.Click(chromedp.CSS(`button.replay-one[value="`+dl+`"]`)), chromedp.WaitVisible(chromedp.CSS("#confirm")))
	text("#summary", "1 would be replayed")
	do("confirm", chromedp.Click(chromedp.CSS("#confirm")), chromedp.WaitVisible(chromedp.CSS("#results")))
	text("#summary", "1 replayed")
	waitFor(t, "the replayed hunt applied", func() bool { return s.metric(t, "cairn_worker_events_applied_total", "cairn.hunt.events") == 1 })
	if code, out, errOut := cli(t, "hunt", "--gateway-addr", s.gateway, "get", hunt); code != 0 || !strings.Contains(out, "Harbour walk") {
		t.Fatalf("hunt get after the replay: exit %d: %s%s", code, out, errOut)
	}

	// A live tail.
	do("tail a topic", chromedp.Navigate(base+"/tail?topic=cairn.player.events&from=beginning"), chromedp.WaitVisible(chromedp.CSS("#records")))
	text("#records", `"displayName":"Ada"`)
	s.publish(t, "cairn.hunt.v1.PlayerRegistered", `{"playerId": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "displayName": "Grace", "registeredAt": "2026-11-21T11:00:00Z"}`)
	text("#records", `"displayName":"Grace"`)

	// The overview after all that, kept as a CI artifact.
	do("back to the overview", chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS("#dead-groups")))
	shotCtx, cancelShot := step()
	defer cancelShot()
	png, err := chromedp.Run(shotCtx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	dir := filepath.Join("..", "..", "build")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "console.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot saved to build/console.png (%d bytes)", len(png))
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
