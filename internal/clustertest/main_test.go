package clustertest_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to make each test's schema
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/cairnhq/cairn/internal/schemas"
	"github.com/cairnhq/cairn/internal/testaddr"
	"github.com/cairnhq/cairn/internal/wire"
)

// The suite's fixed choices.
const (
	apiKey          = "cluster-test-key-0123456789"
	deadLetterTopic = "cairn.clustertest.deadletter"
	partitions      = 6
	replication     = 3
)

// suite is what TestMain set up for every test.
var suite struct {
	skip         string // why the suite does not run, or ""
	brokers      string // CAIRN_KAFKA_BROKERS
	bin          string // the cairn binary
	dir          string // the suite's temporary directory
	authFile     string
	registryAddr string
	script       string // scripts/kafka-cluster, when it runs this cluster; else ""
	topics       []string
}

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	suite.brokers = os.Getenv("CAIRN_KAFKA_BROKERS")
	if suite.brokers == "" {
		suite.skip = "CAIRN_KAFKA_BROKERS is not set: no Kafka cluster to test against (make test-kafka starts one)"
		return m.Run()
	}
	if err := setUp(); err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %v\n", err)
		return 1
	}
	defer os.RemoveAll(suite.dir)
	registry, err := startProcess(suite.dir, "registry", "registry",
		"--registry-addr", suite.registryAddr, "--database-url", "sqlite:"+filepath.Join(suite.dir, "registry.db"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %v\n", err)
		return 1
	}
	defer registry.stop()
	if err := pushSchemas(); err != nil {
		fmt.Fprintf(os.Stderr, "clustertest: %v\nregistry log:\n%s", err, registry.log())
		return 1
	}
	return m.Run()
}

func setUp() error {
	var err error
	if suite.dir, err = os.MkdirTemp("", "cairn-clustertest-"); err != nil {
		return err
	}
	suite.bin = filepath.Join(suite.dir, "cairn")
	build := exec.Command("go", "build", "-o", suite.bin, "github.com/cairnhq/cairn/cmd/cairn")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build cairn: %w", err)
	}
	suite.authFile = filepath.Join(suite.dir, "auth.json")
	if err := os.WriteFile(suite.authFile, []byte(`{
		"api_keys": [{"name": "cluster-test", "key": "`+apiKey+`", "role": "service"}],
		"roles": {"service": ["*"]}
	}`), 0o600); err != nil {
		return err
	}
	if suite.registryAddr, err = testaddr.Free(); err != nil {
		return err
	}
	files, err := schemas.Files()
	if err != nil {
		return err
	}
	suite.topics = append(schemas.Topics(files), deadLetterTopic)

	// The cluster must have its three brokers.
	adm, cl, err := newAdmin(suite.brokers)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	brokers, err := adm.ListBrokers(ctx)
	if err != nil {
		return fmt.Errorf("kafka at %s: %w", suite.brokers, err)
	}
	if len(brokers) != 3 {
		return fmt.Errorf("kafka at %s has %d brokers; the suite needs 3", suite.brokers, len(brokers))
	}
	// The fault tests stop and start brokers; they can only do so on the
	// cluster scripts/kafka-cluster runs.
	script, err := filepath.Abs("../../scripts/kafka-cluster")
	if err != nil {
		return err
	}
	if out, err := exec.Command(script, "bootstrap").Output(); err == nil && strings.TrimSpace(string(out)) == suite.brokers {
		if exec.Command(script, "status").Run() == nil {
			suite.script = script
		}
	}
	return nil
}

// pushSchemas registers the hunt schemas once the registry answers.
func pushSchemas() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command(suite.bin, "schema", "push", "--registry-addr", suite.registryAddr).CombinedOutput()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cairn schema push: %v: %s", err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// needCluster skips t when the suite does not run.
func needCluster(t *testing.T) {
	t.Helper()
	if suite.skip != "" {
		t.Skip(suite.skip)
	}
}

// needScript skips t when it cannot stop and start brokers.
func needScript(t *testing.T) {
	t.Helper()
	needCluster(t)
	if suite.script == "" {
		t.Skip("CAIRN_KAFKA_BROKERS is not the cluster scripts/kafka-cluster runs: brokers cannot be stopped from here")
	}
}

// process is one cairn role running as a subprocess. Its output goes to a
// log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{} // closed when the process has exited
	err     error         // its exit, once done is closed
}

func startProcess(dir, name string, args ...string) (*process, error) {
	p := &process{name: name, logPath: filepath.Join(dir, name+".log"), done: make(chan struct{})}
	f, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	p.cmd = exec.Command(suite.bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.Env = append(os.Environ(), "OTEL_SDK_DISABLED=true")
	if err := p.cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop ends the process with SIGTERM, then SIGKILL after 40 seconds, and
// returns how it exited.
func (p *process) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within 40s", p.name)
	}
	return p.err
}

func (p *process) log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// start runs a cairn role for the test, stopped at its end; its log is
// printed when the test fails.
func start(t *testing.T, name string, args ...string) *process {
	t.Helper()
	p, err := startProcess(t.TempDir(), name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !p.exited() {
			if err := p.stop(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if t.Failed() {
			t.Logf("%s log (last 60 lines):\n%s", name, tail(p.log(), 60))
		}
	})
	return p
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// gateway is a running `cairn gateway`.
type gateway struct {
	*process
	addr, admin string
}

func startGateway(t *testing.T, name, brokers string, extra ...string) *gateway {
	t.Helper()
	g := &gateway{addr: testaddr.Get(t), admin: testaddr.Get(t)}
	g.process = start(t, name, append([]string{"gateway", "--gateway-addr", g.addr, "--admin-addr", g.admin,
		"--kafka-brokers", brokers, "--registry-addr", suite.registryAddr, "--auth-file", suite.authFile}, extra...)...)
	waitReady(t, g.process, g.admin)
	return g
}

// worker is a running `cairn worker`.
type worker struct {
	*process
	addr, admin string
}

func startWorker(t *testing.T, name, group, databaseURL string, extra ...string) *worker {
	t.Helper()
	w := launchWorker(t, name, group, databaseURL, extra...)
	waitReady(t, w.process, w.admin)
	return w
}

// launchWorker starts a worker without waiting until it is ready.
func launchWorker(t *testing.T, name, group, databaseURL string, extra ...string) *worker {
	t.Helper()
	w := &worker{addr: testaddr.Get(t), admin: testaddr.Get(t)}
	w.process = start(t, name, append([]string{"worker", "--grpc-addr", w.addr, "--admin-addr", w.admin,
		// The suite polls HuntService as fast as it likes.
		"--read-rate", "-1",
		"--kafka-brokers", suite.brokers, "--group", group, "--registry-addr", suite.registryAddr,
		"--database-url", databaseURL, "--auth-file", suite.authFile, "--dead-letter-topic", deadLetterTopic}, extra...)...)
	return w
}

// waitReady waits until the role's /readyz answers 200.
func waitReady(t *testing.T, p *process, admin string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if readyz(admin) == nil {
			return
		}
		if p.exited() {
			t.Fatalf("%s exited: %v\n%s", p.name, p.err, tail(p.log(), 40))
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready after 60s:\n%s", p.name, tail(p.log(), 40))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 3 * time.Second}

// readyz asks an admin address whether its role is ready.
func readyz(admin string) error {
	return httpStatus("http://" + admin + "/readyz")
}

// healthz asks an admin address whether its role is healthy.
func healthz(admin string) error {
	return httpStatus("http://" + admin + "/healthz")
}

func httpStatus(u string) error {
	resp, err := httpClient.Get(u)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return fmt.Errorf("%s: %s: %s", u, resp.Status, strings.TrimSpace(b.String()))
	}
	return nil
}

// metric sums the samples of a Prometheus metric on an admin address whose
// labels contain every one of match ("name=\"value\"").
func metric(t *testing.T, admin, name string, match ...string) float64 {
	t.Helper()
	v, err := scrape(admin, name, match...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// scrape is metric, returning its error.
func scrape(admin, name string, match ...string) (float64, error) {
	resp, err := httpClient.Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if !allIn(rest, match) {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric line %q: %w", line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

func allIn(s string, subs []string) bool {
	for _, m := range subs {
		if !strings.Contains(s, m) {
			return false
		}
	}
	return true
}

// postgresURL is the server the workers' databases live on.
func postgresURL() string {
	if u := os.Getenv("CAIRN_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// newDatabase makes an empty PostgreSQL schema for the test, dropped at its
// end, and returns a URL that uses it.
func newDatabase(t *testing.T) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "clustertest_" + hex.EncodeToString(b[:])
	db, err := sql.Open("pgx", postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("PostgreSQL at %s: %v (start it, or set CAIRN_TEST_POSTGRES_URL)", postgresURL(), err)
	}
	t.Cleanup(func() {
		db, err := sql.Open("pgx", postgresURL())
		if err != nil {
			return
		}
		defer db.Close()
		_, _ = db.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(postgresURL())
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func newAdmin(brokers string, opts ...kgo.Opt) (*kadm.Client, *kgo.Client, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(strings.Split(brokers, ",")...)}, opts...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("kafka client: %w", err)
	}
	return kadm.NewClient(cl), cl, nil
}

func admin(t *testing.T) *kadm.Client {
	t.Helper()
	adm, cl, err := newAdmin(suite.brokers)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return adm
}

// freshTopics deletes Cairn's topics and creates them again, empty, with
// the suite's partitions and replication, so that each test starts from
// empty logs. The suite creates them with Kafka's admin API rather than
// through `cairn schema push --kafka-brokers`.
func freshTopics(t *testing.T) {
	t.Helper()
	adm := admin(t)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopics(ctx, suite.topics...); err != nil {
		t.Fatalf("delete topics: %v", err)
	}
	minISR := "2"
	for {
		resp, err := adm.CreateTopics(ctx, partitions, replication, map[string]*string{"min.insync.replicas": &minISR}, suite.topics...)
		if err != nil {
			t.Fatalf("create topics: %v", err)
		}
		var again bool
		for _, r := range resp.Sorted() {
			if r.Err == nil {
				continue
			}
			if errors.Is(r.Err, kerr.TopicAlreadyExists) {
				// Deletion is still under way: try that topic again.
				again = true
				continue
			}
			t.Fatalf("create topic %s: %v", r.Topic, r.Err)
		}
		if !again {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("topics were not deleted within 90s")
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Wait until every partition has a leader and all replicas in sync.
	for {
		md, err := adm.Metadata(ctx, suite.topics...)
		if err == nil && topicsReady(md) {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("topics not ready within 90s: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func topicsReady(md kadm.Metadata) bool {
	for _, topic := range suite.topics {
		td, ok := md.Topics[topic]
		if !ok || td.Err != nil || len(td.Partitions) != partitions {
			return false
		}
		for _, p := range td.Partitions {
			if p.Err != nil || p.Leader < 0 || len(p.ISR) != replication {
				return false
			}
		}
	}
	return true
}

// record is one Kafka record as the suite reads it back.
type record struct {
	topic     string
	partition int32
	offset    int64
	eventID   string
	eventType string
	value     []byte
}

// readAll reads every record of topics from the start of each partition to
// its current end, with a client of its own.
func readAll(t *testing.T, topics ...string) []record {
	t.Helper()
	adm := admin(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		t.Fatalf("end offsets: %v", err)
	}
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		t.Fatalf("start offsets: %v", err)
	}
	want := make(map[string]map[int32]kgo.Offset)
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		start, _ := starts.Lookup(o.Topic, o.Partition)
		if o.Offset > start.Offset {
			if want[o.Topic] == nil {
				want[o.Topic] = make(map[int32]kgo.Offset)
			}
			want[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
			left++
		}
	})
	if left == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(suite.brokers, ",")...), kgo.ConsumePartitions(want),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []record
	done := make(map[string]bool)
	for len(done) < left {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %v: %d of %d partitions read to the end", topics, len(done), left)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s/%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			rec := record{topic: r.Topic, partition: r.Partition, offset: r.Offset, value: r.Value}
			for _, h := range r.Headers {
				switch h.Key {
				case wire.HeaderEventID:
					rec.eventID = string(h.Value)
				case wire.HeaderEventType:
					rec.eventType = string(h.Value)
				}
			}
			out = append(out, rec)
			end, _ := ends.Lookup(r.Topic, r.Partition)
			if r.Offset+1 >= end.Offset {
				done[fmt.Sprintf("%s/%d", r.Topic, r.Partition)] = true
			}
		})
	}
	return out
}

// leaderOf returns the broker leading a partition.
func leaderOf(t *testing.T, topic string, partition int32) int32 {
	t.Helper()
	md, err := admin(t).Metadata(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	return md.Topics[topic].Partitions[partition].Leader
}

// cluster runs scripts/kafka-cluster with args.
func cluster(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(suite.script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("kafka-cluster %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// restoreCluster starts any node a test stopped, when the test ends.
func restoreCluster(t *testing.T) {
	t.Cleanup(func() {
		if out, err := exec.Command(suite.script, "start").CombinedOutput(); err != nil {
			t.Errorf("restarting the cluster: %v\n%s", err, out)
		}
	})
}

// readyLog records a role's readiness over time.
type readyLog struct {
	mu      sync.Mutex
	start   time.Time
	changes []string
	down    time.Duration // total time not ready
	last    bool
	lastAt  time.Time
}

// watchReady polls admin's /readyz every 250ms until ctx ends.
func watchReady(ctx context.Context, admin string, wg *sync.WaitGroup) *readyLog {
	l := &readyLog{start: time.Now(), last: true, lastAt: time.Now()}
	wg.Go(func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				l.mu.Lock()
				if !l.last {
					l.down += time.Since(l.lastAt)
				}
				l.mu.Unlock()
				return
			case <-tick.C:
			}
			ok := readyz(admin) == nil
			l.mu.Lock()
			if ok != l.last {
				now := time.Now()
				if !ok {
					l.changes = append(l.changes, fmt.Sprintf("not ready at %.1fs", now.Sub(l.start).Seconds()))
				} else {
					l.down += now.Sub(l.lastAt)
					l.changes = append(l.changes, fmt.Sprintf("ready at %.1fs", now.Sub(l.start).Seconds()))
				}
				l.last, l.lastAt = ok, now
			}
			l.mu.Unlock()
		}
	})
	return l
}

func (l *readyLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.changes) == 0 {
		return "ready throughout"
	}
	return strings.Join(l.changes, ", ") + fmt.Sprintf(" (not ready %.1fs in all)", l.down.Seconds())
}

func (l *readyLog) sawOutage() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.changes, func(s string) bool { return strings.HasPrefix(s, "not ready") })
}
