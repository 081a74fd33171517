package heads

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"s4c/tensor"
)

// TestDataIDsValidated: a data file with a token or target id outside the
// vocabulary, or a probability outside 0..1, is refused when opened (an id
// of 99999 or -7 used to panic in the embedding lookup of 'heads train
// --resume').
func TestDataIDsValidated(t *testing.T) {
	m := loadModel(t)
	_, p := smallData(t, m, 100)
	good, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	n := int(binary.LittleEndian.Uint32(good[headerSize():]))
	tokAt := headerSize() + 4 + 4*2                  // the third token of the first sequence
	idAt := headerSize() + 4 + 4*n + 2*n*m.Dim + 4*5 // a target id of position 0
	pAt := headerSize() + 4 + 4*n + 2*n*m.Dim + 4*n*TopN + 2*3
	cases := []struct {
		at   int
		val  uint32
		size int
		want string
	}{
		{tokAt, 99999, 4, "sequence 0 (byte 80): position 2: token id 99999 outside the vocabulary 0..511"},
		{tokAt, uint32(0xfffffff9), 4, "token id -7 outside"},
		{idAt, 512, 4, "position 0: target id 512 outside"},
		{idAt, uint32(0xffffffff), 4, "target id -1 outside"},
		{pAt, uint32(tensor.F32ToF16(1.5)), 2, "target probability 1.5 outside 0..1"},
		{pAt, 0x7e00, 2, "target probability NaN"},
	}
	for _, c := range cases {
		b := append([]byte(nil), good...)
		if c.size == 4 {
			binary.LittleEndian.PutUint32(b[c.at:], c.val)
		} else {
			binary.LittleEndian.PutUint16(b[c.at:], uint16(c.val))
		}
		bad := filepath.Join(t.TempDir(), "bad.data")
		os.WriteFile(bad, b, 0o644)
		if _, _, err := OpenDataset(bad, m); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "delete it") {
			t.Errorf("%s: got %v", c.want, err)
		}
		// Resuming generation into the damaged file is refused the same way.
		if err := Generate(bad, m, 200, GenConfig{BOS: 1, SeqLen: 40, Seed: 1, Threads: 1}); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("resume %s: got %v", c.want, err)
		}
	}
}

// FuzzOpenDataset: whatever follows a valid header, opening a data file
// either fails with an error or yields sequences whose every id indexes
// the model's vocabulary (training then cannot index out of range).
func FuzzOpenDataset(f *testing.F) {
	m := loadModel(f)
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.data")
	if err := Generate(p, m, 60, GenConfig{BOS: 1, SeqLen: 20, Seed: 1, Threads: 1}); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	hdr := good[:headerSize()]
	f.Add(good[headerSize():])
	f.Add(good[headerSize() : headerSize()+100])
	f.Add([]byte{1, 0, 0, 0})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1, 2, 3})
	f.Fuzz(func(t *testing.T, body []byte) {
		path := filepath.Join(t.TempDir(), "f.data")
		if err := os.WriteFile(path, append(append([]byte(nil), hdr...), body...), 0o644); err != nil {
			t.Fatal(err)
		}
		ds, valid, err := OpenDataset(path, m)
		if err != nil {
			return
		}
		defer ds.Close()
		if valid < int64(headerSize()) || valid > int64(headerSize()+len(body)) {
			t.Fatalf("valid length %d outside the file", valid)
		}
		for _, s := range ds.Seqs {
			if len(s.Hidden) != len(s.Tokens)*m.Dim || len(s.TopIDs) != len(s.Tokens)*TopN || len(s.TopP) != len(s.TopIDs) {
				t.Fatal("sequence fields of inconsistent lengths")
			}
			if err := s.check(m.Vocab); err != nil {
				t.Fatalf("accepted a sequence that fails its check: %v", err)
			}
		}
	})
}

// FuzzLoad: any file handed to Load as heads gives an error or heads of
// the checked shape with finite weights (the drafting code indexes them
// without further checks).
func FuzzLoad(f *testing.F) {
	m := loadModel(f)
	dir := f.TempDir()
	p := filepath.Join(dir, "seed.gguf")
	h := New(m, 2, 8, 1)
	h.Report["tau"] = "1.5"
	if err := h.Save(p); err != nil {
		f.Fatal(err)
	}
	good, err := os.ReadFile(p)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("GGUF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(t.TempDir(), "h.gguf")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		h, err := Load(path, m)
		if err != nil {
			return
		}
		if h.K < 1 || h.K > MaxK || h.Dim != m.Dim || h.Hidden < 1 || h.Hidden > MaxHidden || len(h.H) != h.K {
			t.Fatalf("accepted heads of shape K=%d dim=%d hidden=%d (%d heads)", h.K, h.Dim, h.Hidden, len(h.H))
		}
		for _, hd := range h.H {
			if len(hd.W1) != h.Hidden*2*h.Dim || len(hd.B1) != h.Hidden || len(hd.W2) != h.Dim*h.Hidden {
				t.Fatal("accepted heads with tensors of the wrong size")
			}
		}
		if err := h.checkFinite(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestGenerateParallel: sequences generated together, each token of all of
// them in one pass, give the very file one at a time gives (batch
// invariance), with prompts and without, greedy and sampled.
func TestGenerateParallel(t *testing.T) {
	m := loadModel(t)
	for _, prompts := range [][][]int32{nil, {{1, 403, 407}, {1, 261}, {1, 378, 300, 299}}} {
		var files [][]byte
		for _, par := range []int{1, 4, 7} {
			p := filepath.Join(t.TempDir(), "d.data")
			cfg := GenConfig{Prompts: prompts, BOS: 1, SeqLen: 30, Greedy: 0.5, Temp: 0.8, SampledStart: 8, Seed: 5, Threads: 1, Parallel: par}
			if err := Generate(p, m, 300, cfg); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		if !bytes.Equal(files[0], files[1]) || !bytes.Equal(files[0], files[2]) {
			t.Fatalf("prompts %v: parallel generation wrote another file (%d, %d, %d bytes)", prompts, len(files[0]), len(files[1]), len(files[2]))
		}
	}
}
