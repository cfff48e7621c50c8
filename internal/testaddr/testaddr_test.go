package testaddr_test

import (
	"net"
	"testing"

	"github.com/cairnhq/cairn/internal/testaddr"
)

// TestFreeNeverRepeats: many addresses in a row are all different, and
// the last can be listened on.
func TestFreeNeverRepeats(t *testing.T) {
	seen := make(map[string]bool)
	var addr string
	for range 2000 {
		addr = testaddr.Get(t)
		if seen[addr] {
			t.Fatalf("%s handed out twice", addr)
		}
		seen[addr] = true
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	lis.Close()
}
