package main

import "testing"

// TestCheckGroupTemps: the check that lets a pair kernel's two rows share
// their temporaries accepts a group that writes each temporary before
// reading it, and refuses one that reads a register left by the group
// before (or the constants' registers it was not told of), or uses Z17.
func TestCheckGroupTemps(t *testing.T) {
	consts := []string{"\tVPBROADCASTD AX, Z3", "\tKMOVW AX, K1"}
	for _, c := range []struct {
		name string
		work []string
		ok   bool
	}{
		{"writes first", []string{"\tVPXORD Z4, Z4, Z4", "\tVMOVDQU32 (SI), Z0", "\tVPANDD Z3, Z0, Z28", "\tVPDPBUSD (DI), Z28, Z4", "\tVCVTDQ2PS Z4, Z4", "\tVBROADCASTSS 8(R9), Z1", "\tVBROADCASTSS 12(R9), K1, Z1", "\tVFMADD231PS Z1, Z4, Z16"}, true},
		{"accumulates into a register it did not write", []string{"\tVMOVDQU32 (SI), Z0", "\tVPDPBUSD (DI), Z0, Z4"}, false},
		{"reads a register it did not write", []string{"\tVPADDD Z5, Z4, Z4"}, false},
		{"merges into a register it did not write", []string{"\tVBROADCASTSS 12(R9), K1, Z1"}, false},
		{"uses Z17", []string{"\tVMOVDQU32 (SI), Z17"}, false},
	} {
		func() {
			defer func() {
				if r := recover(); (r == nil) != c.ok {
					t.Errorf("%s: accepted %v, want %v (%v)", c.name, r == nil, c.ok, r)
				}
			}()
			checkGroupTemps("test", c.work, consts)
		}()
	}
}
