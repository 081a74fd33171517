//go:build !unix

package gguf

import "os"

func mapFile(f *os.File, size int64) ([]byte, func() error, bool, error) {
	b, release, err := readWhole(f, size)
	return b, release, false, err
}

func dropPages([]byte) {}
