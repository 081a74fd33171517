package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"sort"
)

// MaxDims is the largest number of dimensions a ggml tensor may have.
const MaxDims = 4

// KV is one metadata entry. Value holds a Go value matching Type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64, or *Array for TypeArray.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// Array is a metadata array. Values is a typed slice ([]uint8, []int32,
// []float32, []string, []bool, ... or []*Array for nested arrays).
type Array struct {
	Elem   ValueType
	Values any
}

// Len is the number of elements of the array.
func (a *Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []*Array:
		return len(v)
	}
	return 0
}

// TensorInfo describes one tensor. Dims are in ggml order: Dims[0] is the
// length of a row (the fastest-varying dimension).
type TensorInfo struct {
	Name   string
	Dims   []uint64
	Type   TensorType
	Offset uint64 // relative to the start of the data section
	Size   uint64 // bytes
}

// Elements is the number of elements of the tensor.
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. Tensor data is not copied: TensorData returns
// slices of the underlying (usually memory-mapped) bytes.
type File struct {
	Path       string
	Version    uint32
	KV         []KV
	Tensors    []TensorInfo
	Alignment  uint64
	DataOffset uint64

	data    []byte
	kvIdx   map[string]int
	tIdx    map[string]int
	release func() error
	mapped  bool // data is a file mapping (not a copy on the heap)
}

// DropPages releases the resident memory of tensor data the caller has
// copied elsewhere (e.g. repacked weights), if the file is memory-mapped;
// the bytes stay readable (they are paged in again on access).
func (f *File) DropPages(b []byte) {
	if f.mapped && len(b) > 0 {
		dropPages(b)
	}
}

// FormatError is returned for a file that is not valid GGUF. It says where in
// the file the problem was found.
type FormatError struct {
	Path   string
	Offset int64
	Msg    string
}

func (e *FormatError) Error() string {
	p := e.Path
	if p == "" {
		p = "gguf"
	}
	return fmt.Sprintf("%s: malformed GGUF at byte %d: %s", p, e.Offset, e.Msg)
}

// Open memory-maps the file at path and parses it. Close releases the map.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s: is a directory, want a .gguf file", path)
	}
	data, release, mapped, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := parse(data, path)
	if err != nil {
		release()
		return nil, err
	}
	f.release, f.mapped = release, mapped
	return f, nil
}

// Parse parses a GGUF file held in memory. The File refers to b.
func Parse(b []byte) (*File, error) { return parse(b, "") }

// Close releases the file's memory map (if any). Slices returned by
// TensorData must not be used afterwards.
func (f *File) Close() error {
	if f.release == nil {
		return nil
	}
	r := f.release
	f.release = nil
	f.data = nil
	return r()
}

// Bytes is the whole file.
func (f *File) Bytes() []byte { return f.data }

type cursor struct {
	b    []byte
	off  int
	path string
	v1   bool // GGUF v1: 32-bit counts and string lengths
}

func (c *cursor) fail(format string, a ...any) error {
	return &FormatError{Path: c.path, Offset: int64(c.off), Msg: fmt.Sprintf(format, a...)}
}

func (c *cursor) need(n uint64, what string) error {
	if n > uint64(len(c.b)-c.off) {
		return c.fail("file ends inside %s (needs %d bytes, %d left): the file is truncated or corrupt", what, n, len(c.b)-c.off)
	}
	return nil
}

func (c *cursor) u32(what string) (uint32, error) {
	if err := c.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(c.b[c.off:])
	c.off += 4
	return v, nil
}

func (c *cursor) u64(what string) (uint64, error) {
	if err := c.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(c.b[c.off:])
	c.off += 8
	return v, nil
}

// count reads a length or count field (32-bit in v1, 64-bit after).
func (c *cursor) count(what string) (uint64, error) {
	if c.v1 {
		v, err := c.u32(what)
		return uint64(v), err
	}
	return c.u64(what)
}

func (c *cursor) str(what string) (string, error) {
	n, err := c.count(what + " length")
	if err != nil {
		return "", err
	}
	if err := c.need(n, what); err != nil {
		return "", err
	}
	s := string(c.b[c.off : c.off+int(n)])
	c.off += int(n)
	return s, nil
}

const maxArrayDepth = 8

func (c *cursor) value(t ValueType, depth int) (any, error) {
	if sz := t.fixedSize(); sz > 0 {
		if err := c.need(uint64(sz), "metadata value"); err != nil {
			return nil, err
		}
		b := c.b[c.off:]
		c.off += sz
		switch t {
		case TypeUint8:
			return b[0], nil
		case TypeInt8:
			return int8(b[0]), nil
		case TypeBool:
			if b[0] > 1 {
				c.off -= sz
				return nil, c.fail("bool value %d is neither 0 nor 1", b[0])
			}
			return b[0] == 1, nil
		case TypeUint16:
			return binary.LittleEndian.Uint16(b), nil
		case TypeInt16:
			return int16(binary.LittleEndian.Uint16(b)), nil
		case TypeUint32:
			return binary.LittleEndian.Uint32(b), nil
		case TypeInt32:
			return int32(binary.LittleEndian.Uint32(b)), nil
		case TypeFloat32:
			return math.Float32frombits(binary.LittleEndian.Uint32(b)), nil
		case TypeUint64:
			return binary.LittleEndian.Uint64(b), nil
		case TypeInt64:
			return int64(binary.LittleEndian.Uint64(b)), nil
		case TypeFloat64:
			return math.Float64frombits(binary.LittleEndian.Uint64(b)), nil
		}
	}
	switch t {
	case TypeString:
		return c.str("string value")
	case TypeArray:
		if depth >= maxArrayDepth {
			return nil, c.fail("arrays nested deeper than %d", maxArrayDepth)
		}
		et, err := c.u32("array element type")
		if err != nil {
			return nil, err
		}
		n, err := c.count("array length")
		if err != nil {
			return nil, err
		}
		return c.array(ValueType(et), n, depth+1)
	}
	return nil, c.fail("unknown metadata value type %d", uint32(t))
}

func (c *cursor) array(et ValueType, n uint64, depth int) (*Array, error) {
	// Every element takes at least one byte (strings and arrays at least
	// their length field): refuse counts the rest of the file cannot hold
	// before allocating anything.
	min := uint64(et.fixedSize())
	switch et {
	case TypeString:
		min = 8
		if c.v1 {
			min = 4
		}
	case TypeArray:
		min = 12
	}
	if min == 0 {
		return nil, c.fail("unknown array element type %d", uint32(et))
	}
	if hi, lo := bits.Mul64(n, min); hi != 0 || lo > uint64(len(c.b)-c.off) {
		return nil, c.fail("array of %d %s elements is larger than the rest of the file", n, et)
	}
	a := &Array{Elem: et}
	count := int(n)
	if sz := et.fixedSize(); sz > 0 {
		raw := c.b[c.off : c.off+count*sz]
		if et == TypeBool {
			for _, x := range raw {
				if x > 1 {
					return nil, c.fail("bool value %d is neither 0 nor 1", x)
				}
			}
		}
		c.off += count * sz
		le := binary.LittleEndian
		switch et {
		case TypeUint8:
			a.Values = append([]uint8(nil), raw...)
		case TypeInt8:
			v := make([]int8, count)
			for i := range v {
				v[i] = int8(raw[i])
			}
			a.Values = v
		case TypeBool:
			v := make([]bool, count)
			for i := range v {
				v[i] = raw[i] == 1
			}
			a.Values = v
		case TypeUint16:
			v := make([]uint16, count)
			for i := range v {
				v[i] = le.Uint16(raw[2*i:])
			}
			a.Values = v
		case TypeInt16:
			v := make([]int16, count)
			for i := range v {
				v[i] = int16(le.Uint16(raw[2*i:]))
			}
			a.Values = v
		case TypeUint32:
			v := make([]uint32, count)
			for i := range v {
				v[i] = le.Uint32(raw[4*i:])
			}
			a.Values = v
		case TypeInt32:
			v := make([]int32, count)
			for i := range v {
				v[i] = int32(le.Uint32(raw[4*i:]))
			}
			a.Values = v
		case TypeFloat32:
			v := make([]float32, count)
			for i := range v {
				v[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
			}
			a.Values = v
		case TypeUint64:
			v := make([]uint64, count)
			for i := range v {
				v[i] = le.Uint64(raw[8*i:])
			}
			a.Values = v
		case TypeInt64:
			v := make([]int64, count)
			for i := range v {
				v[i] = int64(le.Uint64(raw[8*i:]))
			}
			a.Values = v
		case TypeFloat64:
			v := make([]float64, count)
			for i := range v {
				v[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
			}
			a.Values = v
		}
		return a, nil
	}
	if et == TypeString {
		v := make([]string, count)
		for i := range v {
			s, err := c.str("string array element")
			if err != nil {
				return nil, err
			}
			v[i] = s
		}
		a.Values = v
		return a, nil
	}
	v := make([]*Array, count)
	for i := range v {
		x, err := c.value(TypeArray, depth)
		if err != nil {
			return nil, err
		}
		v[i] = x.(*Array)
	}
	a.Values = v
	return a, nil
}

func parse(b []byte, path string) (*File, error) {
	c := &cursor{b: b, path: path}
	magic, err := c.u32("magic")
	if err != nil {
		return nil, &FormatError{Path: path, Msg: "file is too short to be GGUF (no magic number)"}
	}
	if magic != Magic {
		return nil, &FormatError{Path: path, Msg: fmt.Sprintf("not a GGUF file: magic %q, want \"GGUF\"", string(b[:4]))}
	}
	version, err := c.u32("version")
	if err != nil {
		return nil, err
	}
	if version < 1 || version > 3 {
		return nil, &FormatError{Path: path, Offset: 4, Msg: fmt.Sprintf("unsupported GGUF version %d (this build reads versions 1 to 3)", version)}
	}
	c.v1 = version == 1
	nTensors, err := c.count("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := c.count("metadata count")
	if err != nil {
		return nil, err
	}
	// A key/value pair needs at least 13 bytes, a tensor description 24.
	if hi, lo := bits.Mul64(nKV, 13); hi != 0 || lo > uint64(len(b)) {
		return nil, c.fail("metadata count %d is larger than the file can hold", nKV)
	}
	if hi, lo := bits.Mul64(nTensors, 24); hi != 0 || lo > uint64(len(b)) {
		return nil, c.fail("tensor count %d is larger than the file can hold", nTensors)
	}
	f := &File{Path: path, Version: version, data: b, Alignment: DefaultAlignment,
		kvIdx: make(map[string]int, nKV), tIdx: make(map[string]int, nTensors)}
	f.KV = make([]KV, 0, nKV)
	for i := uint64(0); i < nKV; i++ {
		at := c.off
		key, err := c.str("metadata key")
		if err != nil {
			return nil, err
		}
		t, err := c.u32("metadata value type")
		if err != nil {
			return nil, err
		}
		v, err := c.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("metadata key %q: %w", key, err)
		}
		if _, dup := f.kvIdx[key]; dup {
			return nil, &FormatError{Path: path, Offset: int64(at), Msg: fmt.Sprintf("duplicate metadata key %q", key)}
		}
		f.kvIdx[key] = len(f.KV)
		f.KV = append(f.KV, KV{Key: key, Type: ValueType(t), Value: v})
	}
	if kv, ok := f.kvIdx["general.alignment"]; ok {
		a, ok := asUint(f.KV[kv].Value)
		if !ok || a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return nil, &FormatError{Path: path, Msg: fmt.Sprintf("general.alignment = %v: want a power of two up to 1 MiB", f.KV[kv].Value)}
		}
		f.Alignment = a
	}
	f.Tensors = make([]TensorInfo, 0, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		at := c.off
		name, err := c.str("tensor name")
		if err != nil {
			return nil, err
		}
		nd, err := c.u32("tensor dimension count")
		if err != nil {
			return nil, err
		}
		if nd == 0 || nd > MaxDims {
			return nil, c.fail("tensor %q has %d dimensions (want 1 to %d)", name, nd, MaxDims)
		}
		ti := TensorInfo{Name: name, Dims: make([]uint64, nd)}
		elems := uint64(1)
		for d := range ti.Dims {
			if ti.Dims[d], err = c.count("tensor dimension"); err != nil {
				return nil, err
			}
			var hi uint64
			hi, elems = bits.Mul64(elems, ti.Dims[d])
			if hi != 0 || elems > 1<<50 {
				return nil, c.fail("tensor %q dimensions %v overflow", name, ti.Dims[:d+1])
			}
		}
		typ, err := c.u32("tensor type")
		if err != nil {
			return nil, err
		}
		ti.Type = TensorType(typ)
		if !ti.Type.Known() {
			return nil, &FormatError{Path: path, Offset: int64(c.off - 4), Msg: fmt.Sprintf("tensor %q has unknown ggml type %d (newer than this build?)", name, typ)}
		}
		if bs := uint64(ti.Type.BlockSize()); ti.Dims[0]%bs != 0 {
			return nil, &FormatError{Path: path, Offset: int64(at), Msg: fmt.Sprintf("tensor %q: row length %d is not a multiple of the %s block size %d", name, ti.Dims[0], ti.Type, bs)}
		}
		ti.Size = elems / uint64(ti.Type.BlockSize()) * uint64(ti.Type.TypeSize())
		if ti.Offset, err = c.u64("tensor offset"); err != nil {
			return nil, err
		}
		if ti.Offset%f.Alignment != 0 {
			return nil, &FormatError{Path: path, Offset: int64(c.off - 8), Msg: fmt.Sprintf("tensor %q offset %d is not a multiple of the alignment %d", name, ti.Offset, f.Alignment)}
		}
		if _, dup := f.tIdx[name]; dup {
			return nil, &FormatError{Path: path, Offset: int64(at), Msg: fmt.Sprintf("duplicate tensor name %q", name)}
		}
		f.tIdx[name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	off := uint64(c.off)
	off = (off + f.Alignment - 1) / f.Alignment * f.Alignment
	f.DataOffset = off
	dataLen := uint64(0)
	if off <= uint64(len(b)) {
		dataLen = uint64(len(b)) - off
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			return nil, &FormatError{Path: path, Offset: int64(off + t.Offset),
				Msg: fmt.Sprintf("tensor %q (%s, %d bytes at data offset %d) runs past the end of the file (%d data bytes): the file is truncated", t.Name, t.Type, t.Size, t.Offset, dataLen)}
		}
	}
	// Tensors must not overlap.
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return f.Tensors[order[i]].Offset < f.Tensors[order[j]].Offset })
	for k := 1; k < len(order); k++ {
		a, b := &f.Tensors[order[k-1]], &f.Tensors[order[k]]
		if a.Offset+a.Size > b.Offset {
			return nil, &FormatError{Path: path, Offset: int64(off + b.Offset), Msg: fmt.Sprintf("tensors %q and %q overlap", a.Name, b.Name)}
		}
	}
	return f, nil
}

// TensorData is the raw bytes of a tensor.
func (f *File) TensorData(t *TensorInfo) []byte {
	s := f.DataOffset + t.Offset
	return f.data[s : s+t.Size : s+t.Size]
}

// Tensor finds a tensor by name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tIdx[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// Get finds a metadata value by key.
func (f *File) Get(key string) (any, bool) {
	i, ok := f.kvIdx[key]
	if !ok {
		return nil, false
	}
	return f.KV[i].Value, true
}

// String returns a string metadata value.
func (f *File) String(key string) (string, bool) {
	v, ok := f.Get(key)
	s, isStr := v.(string)
	return s, ok && isStr
}

// Uint returns an unsigned integer metadata value of any integer type
// (negative values are not accepted).
func (f *File) Uint(key string) (uint64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	return asUint(v)
}

// Float returns a numeric metadata value as float64.
func (f *File) Float(key string) (float64, bool) {
	v, ok := f.Get(key)
	if !ok {
		return 0, false
	}
	switch x := v.(type) {
	case float32:
		return float64(x), true
	case float64:
		return x, true
	}
	if u, ok := asUint(v); ok {
		return float64(u), true
	}
	if i, ok := asInt(v); ok {
		return float64(i), true
	}
	return 0, false
}

// Bool returns a boolean metadata value.
func (f *File) Bool(key string) (bool, bool) {
	v, ok := f.Get(key)
	b, isBool := v.(bool)
	return b, ok && isBool
}

// Array returns an array metadata value.
func (f *File) Array(key string) (*Array, bool) {
	v, ok := f.Get(key)
	a, isArr := v.(*Array)
	return a, ok && isArr
}

// Strings returns a string-array metadata value.
func (f *File) Strings(key string) ([]string, bool) {
	a, ok := f.Array(key)
	if !ok {
		return nil, false
	}
	s, ok := a.Values.([]string)
	return s, ok
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	if i, ok := asInt(v); ok && i >= 0 {
		return uint64(i), true
	}
	return 0, false
}

func asInt(v any) (int64, bool) {
	switch x := v.(type) {
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	}
	return 0, false
}

// ErrNotFound is wrapped by errors about missing keys or tensors.
var ErrNotFound = errors.New("not found")

// MapFile maps size bytes of f read-only (or reads them where mapping is
// not possible) and returns them with the function that releases them:
// for other large read-only files, such as the heads' training data.
func MapFile(f *os.File, size int64) ([]byte, func() error, error) {
	b, release, _, err := mapFile(f, size)
	return b, release, err
}
