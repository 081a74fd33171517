package main

import (
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"s4c/gguf"
	"s4c/heads"
	"s4c/model"
	"s4c/tensor"
)

func cmdInspect(args []string) error {
	fs := newFlags("inspect", "[flags] MODEL.gguf")
	all := fs.Bool("all", false, "print whole arrays (vocabularies can be long)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return usageError{fmt.Errorf("give one GGUF file to inspect")}
	}
	path := fs.Arg(0)
	f, err := gguf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "file\t%s\nGGUF version\t%d\nalignment\t%d\nmetadata\t%d keys\ntensors\t%d\n\n", path, f.Version, f.Alignment, len(f.KV), len(f.Tensors))
	fmt.Fprintf(w, "KEY\tTYPE\tVALUE\n")
	for _, kv := range f.KV {
		fmt.Fprintf(w, "%s\t%s\t%s\n", kv.Key, typeName(kv), formatValue(kv.Value, *all))
	}
	w.Flush()
	fmt.Fprintln(stdout)
	fmt.Fprintf(w, "TENSOR\tTYPE\tSHAPE\tSIZE\n")
	var total uint64
	counts := map[string]uint64{}
	var params uint64
	for _, t := range f.Tensors {
		dims := make([]string, len(t.Dims))
		for i, d := range t.Dims {
			dims[i] = fmt.Sprint(d)
		}
		fmt.Fprintf(w, "%s\t%s\t[%s]\t%s\n", t.Name, t.Type, strings.Join(dims, " "), human(t.Size))
		total += t.Size
		counts[t.Type.String()] += t.Size
		params += t.Elements()
	}
	w.Flush()
	var types []string
	for k := range counts {
		types = append(types, k)
	}
	sort.Strings(types)
	fmt.Fprintf(stdout, "\n%d parameters, %s of tensor data (", params, human(total))
	for i, k := range types {
		if i > 0 {
			fmt.Fprint(stdout, ", ")
		}
		fmt.Fprintf(stdout, "%s %s", k, human(counts[k]))
	}
	fmt.Fprintln(stdout, ")")
	if a, _ := f.String("general.architecture"); a == heads.Arch {
		k, _ := f.Uint("s4c-heads.count")
		hid, _ := f.Uint("s4c-heads.hidden_length")
		fp, _ := f.String("s4c-heads.base_fingerprint")
		fmt.Fprintf(stdout, "S^4C draft heads: %d heads, %d hidden units, for the model with fingerprint %.16s…\n", k, hid, fp)
		return nil
	}
	if len(f.Tensors) == 0 {
		if _, ok := f.Get("tokenizer.ggml.tokens"); ok {
			fmt.Fprintln(stdout, "s4c cannot run this file: it holds a vocabulary and no weights (a tokenizer file, as llama.cpp's ggml-vocab-*.gguf)")
			return nil
		}
	}
	m, err := model.FromFile(f)
	if err != nil {
		fmt.Fprintf(stdout, "s4c cannot run this file: %v\n", err)
		return nil
	}
	fmt.Fprintf(stdout, "s4c runs it: %s\n", m.Describe())
	for _, t := range f.Tensors {
		if !tensor.Supported(t.Type) {
			fmt.Fprintf(stdout, "note: tensor %s has type %s, which the engine does not compute with\n", t.Name, t.Type)
		}
	}
	return nil
}

func typeName(kv gguf.KV) string {
	if a, ok := kv.Value.(*gguf.Array); ok {
		return fmt.Sprintf("%s[%d]", a.Elem, a.Len())
	}
	return kv.Type.String()
}

func formatValue(v any, all bool) string {
	switch x := v.(type) {
	case string:
		if len(x) > 120 && !all {
			return fmt.Sprintf("%q… (%d bytes)", x[:100], len(x))
		}
		return fmt.Sprintf("%q", x)
	case *gguf.Array:
		s := fmt.Sprint(x.Values)
		if ss, ok := x.Values.([]string); ok {
			q := make([]string, 0, 8)
			for i, e := range ss {
				if i == 8 && !all {
					q = append(q, "…")
					break
				}
				q = append(q, fmt.Sprintf("%q", e))
			}
			s = "[" + strings.Join(q, " ") + "]"
		}
		if len(s) > 120 && !all {
			s = s[:100] + "…"
		}
		return s
	}
	return fmt.Sprint(v)
}

func human(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
