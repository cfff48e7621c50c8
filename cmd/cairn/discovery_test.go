package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/discovery"
	"github.com/cairnhq/cairn/internal/discovery/etcdtest"
	"github.com/cairnhq/cairn/internal/testaddr"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

// TestMain lets tests run roles as real processes: with
// CAIRN_TEST_AS_CAIRN=1 in its environment this test binary is the cairn
// command, so a test can start `cairn gateway` and kill it with SIGKILL.
func TestMain(m *testing.M) {
	if os.Getenv("CAIRN_TEST_AS_CAIRN") == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// process is a cairn role running as its own process.
type process struct {
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

func startProcess(t *testing.T, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(os.Args[0], args...), log: new(lockedBuffer), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), "CAIRN_TEST_AS_CAIRN=1")
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("cairn %s:\n%s", args[0], devLog(p.log))
		}
	})
	return p
}

// TestEtcdGatewayFailover runs the registry and two `cairn gateway`
// processes registered in a real etcd, and a client of etcd:///gateway
// publishing without pause. It checks that the client's calls are spread
// over both gateways; that after one gateway is killed with SIGKILL every
// event is still accepted, at the cost of at most the resends the README
// documents; that the dead gateway's key expires with its lease; and that a
// gateway stopped with SIGTERM removes its key at once.
func TestEtcdGatewayFailover(t *testing.T) {
	srv := etcdtest.Start(t)
	etcdFlags := []string{"--etcd-endpoints", srv.Addr, "--etcd-ttl", "2s"}
	broker := huntBroker(t, 2)
	dir := t.TempDir()
	authFile := serviceAuthFile(t, dir, "organiser", "organiser-key-0123456789")

	// The registry runs in this process; the gateways and schema push find
	// it through etcd.
	ctx, stop := context.WithCancel(t.Context())
	registryLog, registryDone := new(lockedBuffer), make(chan int, 1)
	registryAddr := testaddr.Get(t)
	go func() {
		registryDone <- run(ctx, append([]string{"registry", "--registry-addr", registryAddr, "--admin-addr", testaddr.Get(t), "--database-url", "sqlite:" + filepath.Join(dir, "registry.db")}, etcdFlags...), new(bytes.Buffer), registryLog)
	}()
	defer func() {
		stop()
		if code := <-registryDone; code != 0 {
			t.Errorf("registry exited %d:\n%s", code, devLog(registryLog))
		}
	}()
	pushDeadline := time.Now().Add(120 * time.Second)
	for {
		var out, errOut bytes.Buffer
		if run(t.Context(), []string{"schema", "push", "--registry-addr", "etcd:///registry", "--etcd-endpoints", srv.Addr, "--timeout", "100s"}, &out, &errOut) == 0 {
			break
		}
		if time.Now().After(pushDeadline) {
			t.Fatalf("schema push through etcd:///registry: %s\nregistry:\n%s", errOut.String(), devLog(registryLog))
		}
		time.Sleep(200 * time.Millisecond)
	}

	addrA, addrB := testaddr.Get(t), testaddr.Get(t)
	gateway := func(addr string) *process {
		return startProcess(t, append([]string{"gateway", "--gateway-addr", addr, "--admin-addr", testaddr.Get(t),
			"--kafka-brokers", broker.Addr(), "--registry-addr", "etcd:///registry", "--auth-file", authFile}, etcdFlags...)...)
	}
	gwA, gwB := gateway(addrA), gateway(addrB)

	etcd, err := clientv3.New(clientv3.Config{Endpoints: srv.Endpoints(), DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Close()
	registered := func(addr string) bool {
		resp, err := etcd.Get(t.Context(), discovery.Prefix+"gateway/", clientv3.WithPrefix())
		if err != nil {
			t.Fatal(err)
		}
		for _, kv := range resp.Kvs {
			if strings.Contains(string(kv.Value), `"`+addr+`"`) {
				return true
			}
		}
		return false
	}
	waitUntil(t, "both gateways registered", 60*time.Second, func() bool { return registered(addrA) && registered(addrB) })

	disc, err := discovery.New(discovery.Options{Endpoints: srv.Endpoints()})
	if err != nil {
		t.Fatal(err)
	}
	defer disc.Close()
	conn, err := disc.Dial("etcd:///gateway", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := gatewayv1.NewEventGatewayClient(conn)
	var hunt huntv1.HuntCreated
	if err := protojson.Unmarshal([]byte(`{"huntId":"9b2f4a8e-3c1d-4e5f-8a7b-6c5d4e3f2a1b","title":"Old town","clues":[{"clueId":"11111111-1111-4111-8111-111111111111","text":"What is the fountain made of?","points":10,"answerSha256":"rH2vKP1r/HpcPkuDx/yf1R+S3f8QvchI+ZQX7Kb6/Hw="}],"startsAt":"2026-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z"}`), &hunt); err != nil {
		t.Fatal(err)
	}
	payload, err := anypb.New(&hunt)
	if err != nil {
		t.Fatal(err)
	}
	callCtx := metadata.AppendToOutgoingContext(t.Context(), "x-api-key", "organiser-key-0123456789")
	// publish sends one event the way the README tells a client to: on an
	// error, send it again with the same event id, up to three times. It
	// returns the gateway that accepted it and how many resends it took.
	publish := func() (who string, resends int) {
		t.Helper()
		ev := &gatewayv1.Event{EventId: newUUID(), OccurredAt: timestamppb.Now(), Payload: payload}
		for {
			var p peer.Peer
			ctx, cancel := context.WithTimeout(callCtx, 10*time.Second)
			_, err := client.Publish(ctx, &gatewayv1.PublishRequest{Event: ev}, grpc.Peer(&p))
			cancel()
			if err == nil {
				return p.Addr.String(), resends
			}
			if resends == 3 {
				t.Fatalf("event %s not accepted after %d resends: %v", ev.EventId, resends, err)
			}
			resends++
			t.Logf("publish %s: %v; sending it again", ev.EventId, err)
		}
	}

	served := map[string]int{}
	waitUntil(t, "calls reach both gateways", 60*time.Second, func() bool {
		who, _ := publish()
		served[who]++
		return served[addrA] > 0 && served[addrB] > 0
	})
	t.Logf("before the kill: %v", served)

	// Kill A while a publisher keeps going.
	type result struct {
		start, at time.Time
		who       string
		resends   int
	}
	results := make(chan result, 1<<16)
	stopPublishing := make(chan struct{})
	publisherDone := make(chan struct{})
	go func() {
		defer close(publisherDone)
		for {
			select {
			case <-stopPublishing:
				return
			default:
			}
			start := time.Now()
			who, resends := publish()
			results <- result{start, time.Now(), who, resends}
		}
	}()
	time.Sleep(200 * time.Millisecond)
	killed := time.Now()
	if err := gwA.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-gwA.done
	waitUntil(t, "the killed gateway's key expires", 30*time.Second, func() bool { return !registered(addrA) })
	expiry := time.Since(killed)
	time.Sleep(500 * time.Millisecond) // calls after the expiry
	close(stopPublishing)
	<-publisherDone
	close(results)

	var (
		firstOnB          time.Duration = -1
		total, afterKill  int
		resendsAfterKill  int
		toAAfterKill      int
		afterExpiryOnB    int
		expiredAt         = killed.Add(expiry)
		lastOnA           time.Time
		callsBeforeExpiry int
		slowest           time.Duration // of the calls in progress at the kill or after
	)
	for r := range results {
		total++
		if r.at.Before(killed) {
			continue
		}
		afterKill++
		resendsAfterKill += r.resends
		slowest = max(slowest, r.at.Sub(r.start))
		switch {
		case r.who == addrA:
			toAAfterKill++
			lastOnA = r.at
		case firstOnB < 0:
			firstOnB = r.at.Sub(killed)
		}
		if r.at.After(expiredAt) {
			if r.who != addrB {
				t.Errorf("a call answered at %s, after the killed gateway's key expired, came from %s", r.at.Sub(killed), r.who)
			}
			afterExpiryOnB++
		} else {
			callsBeforeExpiry++
		}
	}
	if afterExpiryOnB == 0 || firstOnB < 0 {
		t.Fatalf("no call answered after the kill (%d calls in all)", total)
	}
	t.Logf("SIGKILL of one gateway, lease TTL 2s: %d calls published in all, %d after the kill (%d before the key expired, %d after), "+
		"%d resends after the kill, first call answered by the other gateway %s after the kill, slowest call %s, key expired %s after the kill",
		total, afterKill, callsBeforeExpiry, afterExpiryOnB, resendsAfterKill, firstOnB.Round(time.Millisecond), slowest.Round(time.Millisecond), expiry.Round(time.Millisecond))
	if toAAfterKill > 0 {
		t.Logf("%d calls were answered by the killed gateway just before it died (the last %s after the signal)", toAAfterKill, lastOnA.Sub(killed))
	}

	// cairn publish finds the survivor through etcd.
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"publish", "--gateway-addr", "etcd:///gateway", "--etcd-endpoints", srv.Addr,
		"--api-key", "organiser-key-0123456789", "cairn.hunt.v1.HuntCreated", protojson.Format(&hunt)}, &out, &errOut); code != 0 {
		t.Fatalf("cairn publish --gateway-addr etcd:///gateway: exit %d: %s", code, errOut.String())
	}

	// A gateway told to stop removes its key at once.
	if err := gwB.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-gwB.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gateway B did not stop on SIGTERM")
	}
	if code := gwB.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("gateway B exited %d", code)
	}
	if registered(addrB) {
		t.Error("gateway B is still registered after stopping")
	}
}

// waitUntil polls cond until it holds and returns how long that took, or
// fails the test after limit.
func waitUntil(t *testing.T, what string, limit time.Duration, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		<-tick.C
	}
	return time.Since(start)
}

// TestEtcdTargetsNeedEndpoints checks the usage errors of etcd:/// targets.
func TestEtcdTargetsNeedEndpoints(t *testing.T) {
	for _, args := range [][]string{
		{"publish", "--gateway-addr", "etcd:///gateway", "cairn.hunt.v1.HuntCreated", "{}"},
		{"hunt", "--gateway-addr", "etcd:///worker", "get", "x"},
		{"schema", "push", "--registry-addr", "etcd:///registry"},
		{"bench", "--gateway-addr", "etcd:///gateway", "publish"},
		{"gateway", "--registry-addr", "etcd:///registry", "--kafka-brokers", "127.0.0.1:1", "--auth-file", "x"},
		{"worker", "--registry-addr", "etcd:///registry", "--kafka-brokers", "127.0.0.1:1", "--auth-file", "x", "--database-url", "sqlite:x"},
	} {
		var out, errOut bytes.Buffer
		if code := run(t.Context(), args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "needs --etcd-endpoints") {
			t.Errorf("%v: exit %d, %s; want 2 and needs --etcd-endpoints", args, code, errOut.String())
		}
	}
	var out, errOut bytes.Buffer
	if code := run(t.Context(), []string{"publish", "--gateway-addr", "etcd://gateway", "cairn.hunt.v1.HuntCreated", "{}"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "etcd:///ROLE") {
		t.Errorf("publish to etcd://gateway: exit %d, %s", code, errOut.String())
	}
	if code := run(t.Context(), []string{"gateway", "--etcd-ttl", "100ms"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--etcd-ttl") {
		t.Errorf("gateway --etcd-ttl 100ms: exit %d, %s", code, errOut.String())
	}
}
