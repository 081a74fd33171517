package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"s4c/internal/shared"
)

func TestOpenStories260K(t *testing.T) {
	f, err := Open(shared.Path(t, "models/stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Version != 3 || len(f.Tensors) != 48 || len(f.KV) != 19 {
		t.Fatalf("version %d, %d tensors, %d kv; want 3, 48, 19", f.Version, len(f.Tensors), len(f.KV))
	}
	if a, _ := f.String("general.architecture"); a != "llama" {
		t.Fatalf("architecture %q", a)
	}
	if n, _ := f.Uint("llama.embedding_length"); n != 64 {
		t.Fatalf("embedding_length %d", n)
	}
	toks, ok := f.Strings("tokenizer.ggml.tokens")
	if !ok || len(toks) != 512 {
		t.Fatalf("tokens: %d", len(toks))
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || emb.Type != F32 || !reflect.DeepEqual(emb.Dims, []uint64{64, 512}) {
		t.Fatalf("token_embd.weight: %+v", emb)
	}
	total := uint64(0)
	for i := range f.Tensors {
		total += f.Tensors[i].Elements()
	}
	// 260,032 parameters; the separate output weight adds 512*64 more.
	if total != 260032+512*64 {
		t.Fatalf("parameters: %d", total)
	}
}

func TestRoundTrip(t *testing.T) {
	w := NewWriter()
	vals := map[string]any{
		"a.u8": uint8(7), "a.i8": int8(-7), "a.u16": uint16(65535), "a.i16": int16(-300),
		"a.u32": uint32(1 << 31), "a.i32": int32(-5), "a.f32": float32(1.5), "a.bool": true,
		"a.str": "héllo", "a.u64": uint64(1 << 60), "a.i64": int64(-1 << 60), "a.f64": 2.25,
		"a.arr.str": []string{"x", "", "yz"}, "a.arr.f32": []float32{1, 2, 3}, "a.arr.i32": []int32{-1, 0, 1},
		"a.arr.bool":   []bool{true, false},
		"a.arr.nested": &Array{TypeArray, []*Array{{TypeUint8, []uint8{1, 2}}, {TypeString, []string{"q"}}}},
	}
	keys := []string{}
	for k := range vals {
		keys = append(keys, k)
	}
	for _, k := range keys {
		if err := w.Set(k, vals[k]); err != nil {
			t.Fatal(err)
		}
	}
	d1 := make([]byte, 4*6)
	for i := range d1 {
		d1[i] = byte(i)
	}
	d2 := make([]byte, 34*2)
	d2[5] = 9
	must(t, w.AddTensor("t1", F32, []uint64{3, 2}, d1))
	must(t, w.AddTensor("t2", Q8_0, []uint64{64}, d2))
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		got, _ := f.Get(k)
		want := vals[k]
		if a, ok := got.(*Array); ok {
			if wa, ok := want.(*Array); ok {
				want = wa.Values
			}
			got = a.Values
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v want %#v", k, got, want)
		}
	}
	t1, _ := f.Tensor("t1")
	t2, _ := f.Tensor("t2")
	if !bytes.Equal(f.TensorData(t1), d1) || !bytes.Equal(f.TensorData(t2), d2) {
		t.Fatal("tensor data differs")
	}
	if t2.Offset%32 != 0 || f.DataOffset%32 != 0 {
		t.Fatal("misaligned")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestWriteFileAndOpen(t *testing.T) {
	w := NewWriter()
	must(t, w.Set("general.architecture", "llama"))
	must(t, w.AddTensor("x", F16, []uint64{4}, make([]byte, 8)))
	p := filepath.Join(t.TempDir(), "x.gguf")
	must(t, w.WriteFile(p))
	f, err := Open(p)
	must(t, err)
	defer f.Close()
	if a, _ := f.String("general.architecture"); a != "llama" {
		t.Fatal(a)
	}
}

func TestMalformed(t *testing.T) {
	w := NewWriter()
	must(t, w.Set("k", "v"))
	must(t, w.AddTensor("x", F32, []uint64{4, 4}, make([]byte, 64)))
	var buf bytes.Buffer
	w.WriteTo(&buf)
	good := buf.Bytes()
	le := binary.LittleEndian
	cases := []struct {
		name string
		mut  func([]byte) []byte
		want string
	}{
		{"empty", func(b []byte) []byte { return nil }, "too short"},
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }, "not a GGUF file"},
		{"version", func(b []byte) []byte { le.PutUint32(b[4:], 9); return b }, "unsupported GGUF version 9"},
		{"truncated data", func(b []byte) []byte { return b[:len(b)-10] }, "truncated"},
		{"truncated header", func(b []byte) []byte { return b[:30] }, "file ends inside"},
		{"huge kv count", func(b []byte) []byte { le.PutUint64(b[16:], 1<<62); return b }, "metadata count"},
		{"huge tensor count", func(b []byte) []byte { le.PutUint64(b[8:], 1<<40); return b }, "tensor count"},
		{"huge key length", func(b []byte) []byte { le.PutUint64(b[24:], 1<<63); return b }, "file ends inside metadata key"},
		{"bad value type", func(b []byte) []byte { le.PutUint32(b[24+8+1:], 99); return b }, "unknown metadata value type 99"},
		{"unknown tensor type", func(b []byte) []byte {
			i := bytes.Index(b, []byte("x\x02\x00\x00\x00")) + 5 + 16
			le.PutUint32(b[i:], 1234)
			return b
		}, "unknown ggml type 1234"},
	}
	for _, c := range cases {
		b := c.mut(append([]byte(nil), good...))
		_, err := Parse(b)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want error containing %q", c.name, err, c.want)
		}
		var fe *FormatError
		if err != nil && !errors.As(err, &fe) {
			t.Errorf("%s: error %T is not a *FormatError", c.name, err)
		}
	}
}

// FuzzParse holds the reader to its promise: any input gives a File or an
// error, never a panic, and every tensor it accepts lies inside the input.
func FuzzParse(f *testing.F) {
	w := NewWriter()
	w.Set("general.architecture", "llama")
	w.Set("arr", []string{"a", "b"})
	w.Set("n", &Array{TypeArray, []*Array{{TypeInt32, []int32{1}}}})
	w.AddTensor("x", Q4_0, []uint64{32, 2}, make([]byte, 36))
	var buf bytes.Buffer
	w.WriteTo(&buf)
	f.Add(buf.Bytes())
	f.Add([]byte("GGUF\x03\x00\x00\x00"))
	if p := shared.Dir(); p != "" {
		if b, err := os.ReadFile(filepath.Join(p, "models/stories260K.gguf")); err == nil {
			f.Add(b[:4096])
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, err := Parse(b)
		if err != nil {
			return
		}
		for i := range g.Tensors {
			d := g.TensorData(&g.Tensors[i])
			if uint64(len(d)) != g.Tensors[i].Size {
				t.Fatal("size mismatch")
			}
		}
	})
}

// TestDropPages: released tensor pages read back the same bytes (they come
// from the file again), and heap-held data is never touched.
func TestDropPages(t *testing.T) {
	w := NewWriter()
	must(t, w.Set("general.architecture", "llama"))
	data := make([]byte, 3*4096*2)
	for i := range data {
		data[i] = byte(i*7 + 1)
	}
	must(t, w.AddTensor("x", F16, []uint64{uint64(len(data) / 2)}, data))
	p := filepath.Join(t.TempDir(), "x.gguf")
	must(t, w.WriteFile(p))
	f, err := Open(p)
	must(t, err)
	defer f.Close()
	ti, _ := f.Tensor("x")
	got := f.TensorData(ti)
	f.DropPages(got)
	if !bytes.Equal(got, data) {
		t.Fatal("tensor bytes changed after DropPages")
	}
	raw, _ := os.ReadFile(p)
	g, err := Parse(raw)
	must(t, err)
	gi, _ := g.Tensor("x")
	g.DropPages(g.TensorData(gi))
	if !bytes.Equal(g.TensorData(gi), data) {
		t.Fatal("heap-held tensor bytes changed by DropPages")
	}
}
