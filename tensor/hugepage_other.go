//go:build !linux

package tensor

// adviseHuge is Linux's transparent huge page request; elsewhere nothing.
func adviseHuge(b []byte) {}

func populate(b []byte, write bool) {}
