package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"s4c/convert"
	"s4c/gguf"
	"s4c/heads"
	"s4c/model"
)

func cmdModel(args []string) error {
	return dispatch("model", args, []subcommand{{"synth", cmdModelSynth}, {"inflate", cmdModelInflate}})
}

func shapeNames() string {
	var n []string
	for k := range convert.Shapes {
		n = append(n, k)
	}
	return strings.Join(n, "|")
}

func cmdModelSynth(args []string) error {
	fs := newFlags("model synth", "--shape SHAPE --type TYPE -o OUT.gguf")
	shape := fs.String("shape", "tinyllama-1.1b", "model shape: "+shapeNames())
	typ := fs.String("type", "q8_0", "tensor type: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl")
	out := fs.String("o", "", "output GGUF file")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	s, err := convert.ParseShape(*shape)
	if err != nil {
		return err
	}
	t, err := gguf.ParseTensorType(*typ)
	if err != nil {
		return err
	}
	if *out == "" {
		return usageError{fmt.Errorf("give -o OUT.gguf")}
	}
	t0 := time.Now()
	if err := convert.Synth(*out, s, t, *seed, writeProgress("synth")); err != nil {
		return err
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(stdout, "wrote %s: %s shape, %s, %.2f GiB, random weights (for timing only) in %s\n", *out, s.Name, t, float64(st.Size())/(1<<30), time.Since(t0).Round(time.Second))
	return nil
}

func cmdModelInflate(args []string) error {
	fs := newFlags("model inflate", "--from SMALL.gguf --shape SHAPE --type TYPE -o BIG.gguf [--vocab N] [--heads SMALL.s4c.gguf]")
	from := fs.String("from", "", "small real model to inflate")
	shape := fs.String("shape", "tinyllama-1.1b", "target shape: "+shapeNames()+", or same (the small model's own: a copy in another tensor type)")
	typ := fs.String("type", "f16", "tensor type of the big model")
	out := fs.String("o", "", "output GGUF file")
	headsIn := fs.String("heads", "", "also inflate these heads of the small model (written beside OUT as OUT.s4c.gguf)")
	seed := fs.Uint64("seed", 1, "random seed for the weights that do not affect the function")
	vocab := fs.Int("vocab", 0, "vocabulary size (0 = the small model's): extra unused tokens the model never prefers, e.g. 32000 or 128256, to measure drafting at real vocabulary sizes")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *from == "" || *out == "" {
		return usageError{fmt.Errorf("give --from SMALL.gguf and -o BIG.gguf")}
	}
	if *vocab < 0 || *vocab > 1<<20 {
		return usageError{fmt.Errorf("--vocab %d: want 0 (the small model's) or a size up to %d", *vocab, 1<<20)}
	}
	var s convert.Shape
	var err error
	if *shape != "same" {
		if s, err = convert.ParseShape(*shape); err != nil {
			return err
		}
	}
	t, err := gguf.ParseTensorType(*typ)
	if err != nil {
		return err
	}
	small, err := model.Load(*from)
	if err != nil {
		return err
	}
	defer small.Close()
	if *shape == "same" {
		s = convert.ShapeOf(small)
	}
	s.Vocab = small.Vocab
	if *vocab > 0 {
		s.Vocab = *vocab
	}
	var sh *heads.Heads
	if *headsIn != "" {
		if sh, err = heads.Load(*headsIn, small); err != nil {
			return err
		}
	}
	t0 := time.Now()
	if err := convert.Inflate(*out, small, s, t, *seed, writeProgress("inflate")); err != nil {
		return err
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(stdout, "wrote %s: %s inflated to %s, %s, %.2f GiB in %s\n", *out, *from, s.Name, t, float64(st.Size())/(1<<30), time.Since(t0).Round(time.Second))
	if sh != nil {
		return inflateHeads(sh, *out, "")
	}
	return nil
}

// inflateHeads writes sh inflated to the model at bigPath, to outPath or
// by default beside it (MODEL.medusa.s4c.gguf for independent heads).
func inflateHeads(sh *heads.Heads, bigPath, outPath string) error {
	if outPath == "" {
		outPath = heads.PathFor(bigPath)
		if sh.Independent {
			outPath = heads.IndependentPathFor(bigPath)
		}
	}
	big, err := model.Load(bigPath)
	if err != nil {
		return err
	}
	defer big.Close()
	bh, err := sh.Inflate(big)
	if err != nil {
		return err
	}
	// Stored as heads train would store heads for the big model:
	// float16 from 100M parameters, which halves what a draft step
	// reads (1.1B twin, T = 1, one run: 1.73x against 1.68x, drafting 4 %
	// of the time against 5 %).
	typ := heads.DefaultsFor(big.Dim, big.Vocab, big.Params()).Type
	if err := bh.SetType(typ); err != nil {
		return err
	}
	if err := bh.Save(outPath); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: heads inflated to width %d, weights %s\n", outPath, big.Dim, typ)
	return nil
}

// cmdHeadsInflate is 's4c heads inflate'.
func cmdHeadsInflate(args []string) error {
	fs := newFlags("heads inflate", "--from SMALL.gguf --heads SMALL.s4c.gguf -m BIG.gguf [-o BIG.s4c.gguf]")
	from := fs.String("from", "", "the small model the heads were trained for")
	hp := fs.String("heads", "", "heads of the small model (default SMALL.s4c.gguf)")
	bigPath := fs.String("m", "", "the inflated model")
	out := fs.String("o", "", "output heads (default BIG.s4c.gguf, or BIG.medusa.s4c.gguf for independent heads)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if *from == "" || *bigPath == "" {
		return usageError{fmt.Errorf("give --from SMALL.gguf and -m BIG.gguf")}
	}
	if *hp == "" {
		*hp = heads.PathFor(*from)
	}
	small, err := model.Load(*from)
	if err != nil {
		return err
	}
	defer small.Close()
	sh, err := heads.Load(*hp, small)
	if err != nil {
		return err
	}
	return inflateHeads(sh, *bigPath, *out)
}

// writeProgress draws a progress bar with an ETA for a model being written.
func writeProgress(what string) func(done, total int64) {
	var bar *progress
	return func(done, total int64) {
		if bar == nil {
			bar = newProgress(what, total, 0, "bytes")
		}
		bar.update(done, "")
		if done == total {
			endBar()
		}
	}
}
