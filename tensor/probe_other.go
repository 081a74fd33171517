//go:build !amd64

package tensor

func streamAvailable() bool { return false }

func streamRead(b []byte) {}

func vnniAvailable() bool { return false }

func vnniLoop(iters int) {}
