package sysmem

import (
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	avail, ok := Available()
	if !ok {
		t.Skip("MemAvailable is not known on this system")
	}
	if avail <= 0 {
		t.Fatalf("MemAvailable %d", avail)
	}
	if err := Check(1<<20, "a small buffer", "n/a"); err != nil {
		t.Fatal(err)
	}
	err := Check(avail+1<<40, "a KV cache of 1000000000 tokens", "lower --ctx")
	if err == nil || !strings.Contains(err.Error(), "a KV cache of 1000000000 tokens needs") || !strings.Contains(err.Error(), "lower --ctx") {
		t.Fatalf("got %v", err)
	}
}
