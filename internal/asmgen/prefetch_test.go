package main

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestOneRowPrefetchCoverage runs the address arithmetic of every one-row
// decoding kernel, AVX-512 and AVX2 (as generated: its prefetches, LEAQ
// and ADDQ on SI, R9 and R13) over consecutive rows of every width from
// one group to 64, and checks that each cache line the kernel reads was
// prefetched, by the call's entry burst or by a row before. A line left
// out of every row costs a demand miss per row: Q4_K rows of 5632
// columns, whose scales are padded by less than a line, streamed at
// 0.83-0.86 of the read probe with one such line, 0.92-0.93 without.
func TestOneRowPrefetchCoverage(t *testing.T) {
	for _, g := range packedGeoms {
		for _, avx2 := range []bool{false, true} {
			level := "vnni"
			if avx2 {
				level = "avx2"
			}
			if !g.inSet(level) {
				continue
			}
			testPrefetchCoverage(t, g, avx2)
		}
	}
}

func testPrefetchCoverage(t *testing.T, g packedGeom, avx2 bool) {
	var b bytes.Buffer
	name := g.name
	if avx2 {
		avx2Kernel(&b, g, 1)
		name += " (AVX2)"
	} else {
		packedKernel(&b, g, tileVariants[0], 1)
	}
	k, err := parseAddressing(b.String())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for G := 1; G <= 64; G++ {
		stride := G*g.qbytes + (G*g.meta+63)/64*64
		const rows = 24
		fetched := map[int]bool{}
		for _, off := range k.entry {
			fetched[off/64] = true
		}
		for r := 0; r < rows; r++ {
			reg := map[string]int{"SI": r * stride, "R9": r*stride + G*g.qbytes}
			for _, op := range k.start {
				op.run(reg, fetched)
			}
			for i := 0; i < G; i++ {
				for _, op := range k.loop {
					op.run(reg, fetched)
				}
			}
		}
		// The lines of rows 0..rows-3 (the last rows' successors are
		// not simulated).
		missed := unfetched(fetched, g, G, stride, 0, rows-2)
		if len(missed) > 0 {
			t.Errorf("%s, %d columns (row stride %d bytes): %d lines over %d rows never prefetched, first %v",
				name, G*512, stride, len(missed), rows-2, missed[:min(4, len(missed))])
		}
	}
}

// unfetched lists, once each, the cache lines of rows 0..rows-1 of G
// groups (every group's quants and scales; row r at base + r·stride) that
// are not in fetched.
func unfetched(fetched map[int]bool, g packedGeom, G, stride, base, rows int) []int {
	var missed []int
	for r := 0; r < rows; r++ {
		S := base + r*stride
		for i := 0; i < G; i++ {
			for _, span := range [][2]int{{S + i*g.qbytes, g.qbytes}, {S + G*g.qbytes + i*g.meta, g.meta}} {
				for l := span[0] / 64; l <= (span[0]+span[1]-1)/64; l++ {
					if !fetched[l] {
						missed = append(missed, l)
						fetched[l] = true // once
					}
				}
			}
		}
	}
	return missed
}

// addrOp is one address instruction of a kernel: a prefetch of off(reg),
// LEAQ off(SI), reg or ADDQ $n, reg.
type addrOp struct {
	kind     string
	reg, src string
	n        int
}

func (o addrOp) run(reg map[string]int, fetched map[int]bool) {
	switch o.kind {
	case "PREFETCH":
		fetched[(reg[o.reg]+o.n)/64] = true
	case "LEAQ":
		reg[o.reg] = reg[o.src] + o.n
	case "ADDQ":
		reg[o.reg] += o.n
	}
}

// kernelAddressing is a one-row kernel's address instructions: at entry
// (offsets from the first row), at the start of each row (from its block
// label to its loop label), and in the loop over a row's groups.
type kernelAddressing struct {
	entry       []int
	start, loop []addrOp
}

var (
	prefetchRe = regexp.MustCompile(`^PREFETCH(?:T0|NTA) (-?\d+)\((SI|R9|R13)\)$`)
	leaRe      = regexp.MustCompile(`^LEAQ (-?\d+)\((SI)\), (R13)$`)
	addRe      = regexp.MustCompile(`^ADDQ \$(\d+), (SI|R9|R13)$`)
)

func parseAddressing(src string) (*kernelAddressing, error) {
	k := &kernelAddressing{}
	section := "entry"
	for _, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case strings.HasSuffix(line, "block:"):
			// Each row: from here to the loop over its groups.
			section = "start"
			continue
		case strings.HasSuffix(line, "loop:"):
			section = "loop"
			continue
		case strings.HasPrefix(line, "JNZ") && strings.HasSuffix(line, "loop"):
			section = "after"
			continue
		}
		var op addrOp
		if m := prefetchRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			if section == "entry" {
				if m[2] != "SI" {
					return nil, fmt.Errorf("entry prefetch off %s: %q", m[2], line)
				}
				k.entry = append(k.entry, n)
				continue
			}
			op = addrOp{kind: "PREFETCH", reg: m[2], n: n}
		} else if m := leaRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			op = addrOp{kind: "LEAQ", src: m[2], reg: m[3], n: n}
		} else if m := addRe.FindStringSubmatch(line); m != nil {
			n, _ := strconv.Atoi(m[1])
			op = addrOp{kind: "ADDQ", reg: m[2], n: n}
		} else {
			continue
		}
		switch section {
		case "start":
			k.start = append(k.start, op)
		case "loop":
			k.loop = append(k.loop, op)
		}
	}
	if len(k.loop) == 0 {
		return nil, fmt.Errorf("no loop found")
	}
	return k, nil
}

// TestPairPrefetchCoverage is TestOneRowPrefetchCoverage for the pair
// kernels: the address arithmetic of each (its entry burst, each pair's
// start and the copies of a group, indexed by BX or not) run over rows r
// and r + P of every width it takes, and every line of both streams' rows
// fetched by a prefetch before them.
func TestPairPrefetchCoverage(t *testing.T) {
	pfRe := regexp.MustCompile(`^PREFETCH(?:T0|NTA) (-?\d+)\((SI|R9|R13)\)(\(BX\*1\))?$`)
	for _, g := range packedGeoms {
		if !g.inSet("vnni") || !g.paired() {
			continue
		}
		var b bytes.Buffer
		U := pairKernel(&b, g)
		src := b.String()
		name := pairName(g)
		type op struct {
			addrOp
			far bool // indexed by BX: the second stream
		}
		var entry, start, group []op
		section := "entry"
		for _, line := range strings.Split(src, "\n") {
			line = strings.TrimSpace(line)
			switch {
			case line == name+"block:":
				section = "start"
				continue
			case strings.HasPrefix(line, "JEQ "+name+"g"):
				section = "group" // the copies follow the last jump
				group = nil
				continue
			case line == name+"g1:" || strings.HasPrefix(line, "REDUCE16E"):
				if section == "group" {
					section = "after"
				}
				continue
			}
			var o op
			if m := pfRe.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				o = op{addrOp{kind: "PREFETCH", reg: m[2], n: n}, m[3] != ""}
			} else if m := leaRe.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				o = op{addrOp{kind: "LEAQ", src: m[2], reg: m[3], n: n}, false}
			} else if m := addRe.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				o = op{addrOp{kind: "ADDQ", reg: m[2], n: n}, false}
			} else {
				continue
			}
			switch section {
			case "entry":
				entry = append(entry, o)
			case "start":
				start = append(start, o)
			case "group":
				group = append(group, o)
			}
		}
		if len(group) == 0 || len(entry) == 0 {
			t.Fatalf("%s: could not find its entry burst or group code", name)
		}
		for G := 1; G <= U; G++ {
			stride := G*g.qbytes + (G*g.meta+63)/64*64
			const P = 24 // pairs
			D := P * stride
			fetched := map[int]bool{}
			run := func(o op, reg map[string]int) {
				if o.kind == "PREFETCH" && o.far {
					fetched[(reg[o.reg]+D+o.n)/64] = true
					return
				}
				o.run(reg, fetched)
			}
			for _, o := range entry {
				run(o, map[string]int{"SI": 0})
			}
			for r := 0; r < P; r++ {
				reg := map[string]int{"SI": r * stride, "R9": r*stride + G*g.qbytes}
				for _, o := range start {
					run(o, reg)
				}
				for i := 0; i < G; i++ {
					for _, o := range group {
						run(o, reg)
					}
				}
			}
			missed := append(unfetched(fetched, g, G, stride, 0, P-2), unfetched(fetched, g, G, stride, D, P-2)...)
			if len(missed) > 0 {
				t.Errorf("%s, %d columns: %d lines of the two streams never prefetched, first %v", name, G*512, len(missed), missed[:min(4, len(missed))])
			}
		}
	}
}
