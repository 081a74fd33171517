// Package sysmem tells how much memory the system can still give, so that
// a request for more fails with a clear error instead of the runtime's
// out-of-memory crash.
package sysmem

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Available is the memory the kernel can give without swapping
// (MemAvailable in /proc/meminfo), and whether it is known (Linux only).
func Available() (int64, bool) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "MemAvailable:")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		kb, err := strconv.ParseInt(fields[0], 10, 64)
		return kb << 10, err == nil
	}
	return 0, false
}

// Check returns an error if need bytes exceed what is available, naming
// what needs them and what to do.
func Check(need int64, what, remedy string) error {
	avail, ok := Available()
	if !ok || need <= avail {
		return nil
	}
	return fmt.Errorf("%s needs %s of memory, but %s is available: %s", what, GiB(need), GiB(avail), remedy)
}

// GiB formats a byte count.
func GiB(n int64) string {
	if n >= 1<<30 {
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20))
}
