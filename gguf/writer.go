package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
)

// Writer builds a GGUF v3 file. Add metadata with Set, tensors with
// AddTensor (or AddTensorFunc for data produced while writing, so a large
// model never has to be held in memory), then call WriteFile or WriteTo.
type Writer struct {
	Alignment uint64
	// Progress, if set, is called after each tensor is written with the
	// tensor bytes written so far and in all.
	Progress func(done, total int64)
	kvs      []KV
	kvIdx    map[string]int
	tensors  []wtensor
	tIdx     map[string]bool
}

type wtensor struct {
	info TensorInfo
	data []byte
	fn   func(w io.Writer) error
}

// NewWriter returns an empty writer with the default alignment.
func NewWriter() *Writer {
	return &Writer{Alignment: DefaultAlignment, kvIdx: map[string]int{}, tIdx: map[string]bool{}}
}

// Set adds or replaces a metadata value. The value type follows the Go type:
// uint8..float64, bool, string, slices of those, or *Array.
func (w *Writer) Set(key string, value any) error {
	t, v, err := valueOf(value)
	if err != nil {
		return fmt.Errorf("gguf: key %q: %w", key, err)
	}
	if key == "general.alignment" {
		a, ok := asUint(v)
		if !ok || a == 0 || a&(a-1) != 0 {
			return fmt.Errorf("gguf: general.alignment must be a power of two, got %v", value)
		}
		w.Alignment = a
	}
	if i, ok := w.kvIdx[key]; ok {
		w.kvs[i] = KV{key, t, v}
		return nil
	}
	w.kvIdx[key] = len(w.kvs)
	w.kvs = append(w.kvs, KV{key, t, v})
	return nil
}

// CopyKV copies all metadata of f except the keys for which skip returns true.
func (w *Writer) CopyKV(f *File, skip func(key string) bool) {
	for _, kv := range f.KV {
		if skip != nil && skip(kv.Key) {
			continue
		}
		if i, ok := w.kvIdx[kv.Key]; ok {
			w.kvs[i] = kv
			continue
		}
		w.kvIdx[kv.Key] = len(w.kvs)
		w.kvs = append(w.kvs, kv)
	}
}

func valueOf(x any) (ValueType, any, error) {
	switch v := x.(type) {
	case uint8:
		return TypeUint8, v, nil
	case int8:
		return TypeInt8, v, nil
	case uint16:
		return TypeUint16, v, nil
	case int16:
		return TypeInt16, v, nil
	case uint32:
		return TypeUint32, v, nil
	case int32:
		return TypeInt32, v, nil
	case float32:
		return TypeFloat32, v, nil
	case bool:
		return TypeBool, v, nil
	case string:
		return TypeString, v, nil
	case uint64:
		return TypeUint64, v, nil
	case int64:
		return TypeInt64, v, nil
	case float64:
		return TypeFloat64, v, nil
	case int:
		return TypeInt64, int64(v), nil
	case *Array:
		return TypeArray, v, nil
	case []uint8:
		return TypeArray, &Array{TypeUint8, v}, nil
	case []int8:
		return TypeArray, &Array{TypeInt8, v}, nil
	case []uint16:
		return TypeArray, &Array{TypeUint16, v}, nil
	case []int16:
		return TypeArray, &Array{TypeInt16, v}, nil
	case []uint32:
		return TypeArray, &Array{TypeUint32, v}, nil
	case []int32:
		return TypeArray, &Array{TypeInt32, v}, nil
	case []float32:
		return TypeArray, &Array{TypeFloat32, v}, nil
	case []bool:
		return TypeArray, &Array{TypeBool, v}, nil
	case []string:
		return TypeArray, &Array{TypeString, v}, nil
	case []uint64:
		return TypeArray, &Array{TypeUint64, v}, nil
	case []int64:
		return TypeArray, &Array{TypeInt64, v}, nil
	case []float64:
		return TypeArray, &Array{TypeFloat64, v}, nil
	}
	return 0, nil, fmt.Errorf("cannot store a %T in GGUF metadata", x)
}

// AddTensor adds a tensor whose encoded data is in memory. dims are in ggml
// order (dims[0] = row length).
func (w *Writer) AddTensor(name string, typ TensorType, dims []uint64, data []byte) error {
	ti, err := w.info(name, typ, dims)
	if err != nil {
		return err
	}
	if uint64(len(data)) != ti.Size {
		return fmt.Errorf("gguf: tensor %q: %d data bytes, want %d for %s %v", name, len(data), ti.Size, typ, dims)
	}
	w.tensors = append(w.tensors, wtensor{info: ti, data: data})
	return nil
}

// AddTensorFunc adds a tensor whose data is written by fn when the file is
// written; fn must write exactly the tensor's size in bytes.
func (w *Writer) AddTensorFunc(name string, typ TensorType, dims []uint64, fn func(w io.Writer) error) error {
	ti, err := w.info(name, typ, dims)
	if err != nil {
		return err
	}
	w.tensors = append(w.tensors, wtensor{info: ti, fn: fn})
	return nil
}

func (w *Writer) info(name string, typ TensorType, dims []uint64) (TensorInfo, error) {
	if !typ.Known() {
		return TensorInfo{}, fmt.Errorf("gguf: tensor %q: unknown type %d", name, typ)
	}
	if len(dims) == 0 || len(dims) > MaxDims {
		return TensorInfo{}, fmt.Errorf("gguf: tensor %q: %d dimensions, want 1 to %d", name, len(dims), MaxDims)
	}
	if w.tIdx[name] {
		return TensorInfo{}, fmt.Errorf("gguf: duplicate tensor %q", name)
	}
	if dims[0]%uint64(typ.BlockSize()) != 0 {
		return TensorInfo{}, fmt.Errorf("gguf: tensor %q: row length %d is not a multiple of the %s block size %d", name, dims[0], typ, typ.BlockSize())
	}
	w.tIdx[name] = true
	ti := TensorInfo{Name: name, Dims: append([]uint64(nil), dims...), Type: typ}
	ti.Size = ti.Elements() / uint64(typ.BlockSize()) * uint64(typ.TypeSize())
	return ti, nil
}

// WriteFile writes the file to path (via a temporary file, synced and
// renamed into place, so a failed write never leaves a half file under the
// final name).
func (w *Writer) WriteFile(path string) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.WriteTo(bw); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	// On disk before it is renamed into place: a crash then leaves the old
	// file or the whole new one, never a renamed file with holes.
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	c.err = err
	return n, err
}

func (c *countWriter) u32(v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	c.Write(b[:])
}
func (c *countWriter) u64(v uint64) {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], v)
	c.Write(b[:])
}
func (c *countWriter) str(s string) { c.u64(uint64(len(s))); io.WriteString(c, s) }

func (c *countWriter) pad(align uint64) {
	if r := uint64(c.n) % align; r != 0 {
		c.Write(make([]byte, align-r))
	}
}

// WriteTo writes the GGUF v3 encoding of the file.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	c := &countWriter{w: out}
	c.u32(Magic)
	c.u32(3)
	c.u64(uint64(len(w.tensors)))
	c.u64(uint64(len(w.kvs)))
	for _, kv := range w.kvs {
		c.str(kv.Key)
		c.u32(uint32(kv.Type))
		writeValue(c, kv.Type, kv.Value)
	}
	off := uint64(0)
	for i := range w.tensors {
		t := &w.tensors[i].info
		t.Offset = off
		c.str(t.Name)
		c.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			c.u64(d)
		}
		c.u32(uint32(t.Type))
		c.u64(off)
		off += (t.Size + w.Alignment - 1) / w.Alignment * w.Alignment
	}
	c.pad(w.Alignment)
	var done int64
	for _, t := range w.tensors {
		start := c.n
		if t.fn != nil {
			if err := t.fn(c); err != nil {
				return c.n, fmt.Errorf("gguf: writing tensor %q: %w", t.info.Name, err)
			}
		} else {
			c.Write(t.data)
		}
		if c.err != nil {
			return c.n, c.err
		}
		if got := uint64(c.n - start); got != t.info.Size {
			return c.n, fmt.Errorf("gguf: tensor %q: wrote %d bytes, want %d", t.info.Name, got, t.info.Size)
		}
		c.pad(w.Alignment)
		if done += int64(t.info.Size); w.Progress != nil {
			w.Progress(done, int64(off))
		}
	}
	return c.n, c.err
}

func writeValue(c *countWriter, t ValueType, v any) {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		c.Write([]byte{v.(uint8)})
	case TypeInt8:
		c.Write([]byte{byte(v.(int8))})
	case TypeBool:
		b := byte(0)
		if v.(bool) {
			b = 1
		}
		c.Write([]byte{b})
	case TypeUint16:
		var b [2]byte
		le.PutUint16(b[:], v.(uint16))
		c.Write(b[:])
	case TypeInt16:
		var b [2]byte
		le.PutUint16(b[:], uint16(v.(int16)))
		c.Write(b[:])
	case TypeUint32:
		c.u32(v.(uint32))
	case TypeInt32:
		c.u32(uint32(v.(int32)))
	case TypeFloat32:
		c.u32(math.Float32bits(v.(float32)))
	case TypeUint64:
		c.u64(v.(uint64))
	case TypeInt64:
		c.u64(uint64(v.(int64)))
	case TypeFloat64:
		c.u64(math.Float64bits(v.(float64)))
	case TypeString:
		c.str(v.(string))
	case TypeArray:
		a := v.(*Array)
		c.u32(uint32(a.Elem))
		c.u64(uint64(a.Len()))
		switch vals := a.Values.(type) {
		case []string:
			for _, s := range vals {
				c.str(s)
			}
		case []*Array:
			for _, x := range vals {
				writeValue(c, TypeArray, x)
			}
		default:
			forEach(a, func(x any) { writeValue(c, a.Elem, x) })
		}
	}
}

func forEach(a *Array, fn func(any)) {
	switch v := a.Values.(type) {
	case []uint8:
		for _, x := range v {
			fn(x)
		}
	case []int8:
		for _, x := range v {
			fn(x)
		}
	case []uint16:
		for _, x := range v {
			fn(x)
		}
	case []int16:
		for _, x := range v {
			fn(x)
		}
	case []uint32:
		for _, x := range v {
			fn(x)
		}
	case []int32:
		for _, x := range v {
			fn(x)
		}
	case []float32:
		for _, x := range v {
			fn(x)
		}
	case []bool:
		for _, x := range v {
			fn(x)
		}
	case []uint64:
		for _, x := range v {
			fn(x)
		}
	case []int64:
		for _, x := range v {
			fn(x)
		}
	case []float64:
		for _, x := range v {
			fn(x)
		}
	}
}
