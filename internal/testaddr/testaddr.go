// Package testaddr hands tests local TCP addresses that no one listens on,
// for the servers they start.
package testaddr

import (
	"net"
	"sync"
	"testing"
)

// given are the addresses Free has returned.
var given = struct {
	sync.Mutex
	m map[string]bool
}{m: make(map[string]bool)}

// Free returns a 127.0.0.1 address no one listens on and that it has not
// returned before in this process: the kernel may hand a port it gave a
// moment ago, closed since, to the next listener, and a test that asks
// for four addresses then finds two of them the same (seen: cairn dev's
// admin server on its own Kafka port). Another process may still take
// the port before the test listens on it.
func Free() (string, error) {
	for {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", err
		}
		addr := lis.Addr().String()
		lis.Close()
		given.Lock()
		seen := given.m[addr]
		given.m[addr] = true
		given.Unlock()
		if !seen {
			return addr, nil
		}
	}
}

// Get is Free for a test, which it fails when no address can be had.
func Get(t testing.TB) string {
	t.Helper()
	addr, err := Free()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}
