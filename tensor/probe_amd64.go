package tensor

import "golang.org/x/sys/cpu"

//go:noescape
func streamReadAVX2(p *byte, n int) uint64

//go:noescape
func vnniLoopAVX512(iters int)

func streamAvailable() bool { return cpu.X86.HasAVX2 }

func streamRead(b []byte) { streamReadAVX2(&b[0], len(b)) }

func vnniAvailable() bool { return hasVNNI }

func vnniLoop(iters int) { vnniLoopAVX512(iters) }
