//go:build !unix

package heads

import (
	"io"
	"os"
)

// mapData reads the whole data file where mapping is not available.
func mapData(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, size)
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, err
	}
	return b, nil
}

func unmapData(b []byte) error { return nil }
