// Package etcdtest runs a real etcd server for tests: the etcd binary
// (Debian's etcd-server package) on free loopback ports, with its data in
// the test's temporary directory. Without the binary a test is skipped, and
// fails instead when CAIRN_REQUIRE_ETCD is set, as CI sets it.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Server is one etcd process. Its methods are safe for concurrent use.
type Server struct {
	t       testing.TB
	bin     string
	dir     string
	Addr    string // client address, host:port
	peer    string
	logFile string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Binary returns the etcd binary's path: $CAIRN_ETCD_BIN, or etcd in PATH
// or /usr/bin.
func Binary() (string, error) {
	if b := os.Getenv("CAIRN_ETCD_BIN"); b != "" {
		return b, nil
	}
	if b, err := exec.LookPath("etcd"); err == nil {
		return b, nil
	}
	if _, err := os.Stat("/usr/bin/etcd"); err == nil {
		return "/usr/bin/etcd", nil
	}
	return "", fmt.Errorf("no etcd binary in PATH (install Debian's etcd-server, or set CAIRN_ETCD_BIN)")
}

// New prepares a server on free ports without starting it, or skips the
// test when there is no etcd binary.
func New(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if os.Getenv("CAIRN_REQUIRE_ETCD") != "" {
			t.Fatalf("CAIRN_REQUIRE_ETCD is set: %v", err)
		}
		t.Skipf("etcd tests did not run: %v", err)
	}
	dir := t.TempDir()
	s := &Server{t: t, bin: bin, dir: dir, Addr: FreeAddr(t), peer: FreeAddr(t), logFile: filepath.Join(dir, "etcd.log")}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			if b, err := os.ReadFile(s.logFile); err == nil {
				t.Logf("etcd log (last 4 KiB):\n%s", tail(b, 4096))
			}
		}
	})
	return s
}

// Start runs an etcd server for the test and waits until it is healthy.
func Start(t testing.TB) *Server {
	t.Helper()
	s := New(t)
	s.Start()
	return s
}

// Endpoints returns the client endpoints, for discovery.Options.
func (s *Server) Endpoints() []string { return []string{s.Addr} }

// Start starts the server (again) on its address and data directory and
// waits until it answers.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		s.t.Fatal("etcdtest: already running")
	}
	client, peer := "http://"+s.Addr, "http://"+s.peer
	log, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	defer log.Close()
	cmd := exec.Command(s.bin,
		"--name", "cairn-test",
		"--data-dir", filepath.Join(s.dir, "data"),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "cairn-test="+peer,
		"--logger", "zap", "--log-level", "warn",
	)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start etcd: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	s.cmd, s.done = cmd, done
	if err := waitHealthy(client, done, 30*time.Second); err != nil {
		s.t.Fatalf("etcd on %s: %v", s.Addr, err)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL after 10s) and waits for it.
// Its data stays for the next Start.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// Wipe removes the data of a stopped server: the next Start is a new,
// empty etcd, as after a lost disk.
func (s *Server) Wipe() {
	s.t.Helper()
	if err := os.RemoveAll(filepath.Join(s.dir, "data")); err != nil {
		s.t.Fatal(err)
	}
}

func waitHealthy(url string, exited <-chan struct{}, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/health", nil)
		if resp, err := client.Do(req); err == nil {
			var b [256]byte
			n, _ := resp.Body.Read(b[:])
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(b[:n]), `"true"`) {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("etcd exited before answering")
		case <-ctx.Done():
			return fmt.Errorf("not healthy within %s", limit)
		case <-tick.C:
		}
	}
}

// FreeAddr returns a loopback address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	return lis.Addr().String()
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
