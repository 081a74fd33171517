//go:build !linux

package tensor

import "runtime"

// osYield lets other goroutines run (no portable way to yield the core).
func osYield() { runtime.Gosched() }
