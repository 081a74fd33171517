package main

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"s4c/bench"
	"s4c/gguf"
	"s4c/internal/shared"
)

// build compiles the command once per test binary.
func build(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "s4c")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

func TestCLI(t *testing.T) {
	model := shared.Path(t, "models/stories260K.gguf")
	bin := build(t)
	// Anything written goes to a temporary directory, never beside the shared model.
	out := filepath.Join(t.TempDir(), "h.s4c.gguf")
	badPrompts := filepath.Join(t.TempDir(), "bad.jsonl")
	os.WriteFile(badPrompts, []byte("{\"text\": \"no prompt key\"}\n"), 0o644)
	story := filepath.Join(t.TempDir(), "story.txt")
	os.WriteFile(story, []byte("Once upon a time, there was a little girl named Lily. She liked to play with her ball in the park."), 0o644)
	vocabHeads := filepath.Join(t.TempDir(), "v.s4c.gguf")
	f16Heads := filepath.Join(t.TempDir(), "f16.s4c.gguf")
	storyBlank := filepath.Join(t.TempDir(), "story2.txt")
	os.WriteFile(storyBlank, []byte("\nOnce upon a time, there was a little girl.\nShe liked the park.\n"), 0o644)
	// Text for teacher-forced training: the stories an independent engine
	// wrote (the reference outputs), as JSONL.
	refTexts := filepath.Join(t.TempDir(), "texts.jsonl")
	{
		ref, err := os.ReadFile(shared.Path(t, "models/stories260K.ref.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, l := range strings.Split(strings.TrimSpace(string(ref)), "\n") {
			var r struct {
				Prompt     string
				GreedyText string `json:"greedy_text"`
			}
			if err := json.Unmarshal([]byte(l), &r); err != nil {
				t.Fatal(err)
			}
			line, _ := json.Marshal(map[string]string{"text": r.Prompt + r.GreedyText})
			b.Write(append(line, '\n'))
		}
		os.WriteFile(refTexts, []byte(b.String()), 0o644)
	}
	textHeads := filepath.Join(t.TempDir(), "t.s4c.gguf")
	cases := []struct {
		args     []string
		ok       bool
		contains string // in combined output
	}{
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "12"}, true, "Once upon a time, there was a little girl named Lily"},
		// Teacher-forced training on given text, then lossless decoding.
		{[]string{"heads", "train", "-m", model, "-o", textHeads, "--text", refTexts, "--epochs", "1", "--hidden", "32"}, true, "fewer than --tokens 700000: training on all of them"},
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "30", "--heads", textHeads, "--budget", "4", "--compare"}, true, "outputs identical"},
		{[]string{"heads", "train", "-m", model, "-o", textHeads, "--text", "/no/such.jsonl"}, false, "--text: stat /no/such.jsonl"},
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "12"}, true, "generated 12 tokens"},
		// No heads beside the shared model: n-gram drafting by default.
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "12"}, true, "[n-gram | prompt"},
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "40", "--spec", "ngram", "--budget", "8", "--compare"}, true, "outputs identical"},
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "12", "--spec", "none"}, true, "[plain | prompt"},
		{[]string{"run", "-p", "x"}, false, "no model: give -m MODEL.gguf"},
		{[]string{"run", "-m", model, "-p", "x", "--temp", "-1"}, false, "temperature -1"},
		{[]string{"run", "-m", model, "-p", "x", "--bogus"}, false, "flag provided but not defined: -bogus"},
		{[]string{"run", "-m", "/no/such.gguf", "-p", "x"}, false, "no such file"},
		{[]string{"run", "-m", shared.Path(t, "vocab/ggml-vocab-gpt-2.gguf"), "-p", "x"}, false, `unsupported architecture "gpt2"`},
		{[]string{"inspect", model}, true, "llama.attention.head_count_kv"},
		{[]string{"inspect", model}, true, "s4c runs it: llama"},
		{[]string{"inspect", shared.Path(t, "vocab/ggml-vocab-phi-3.gguf")}, true, "s4c cannot run this file: it holds a vocabulary and no weights"},
		{[]string{"inspect", shared.Path(t, "conformance/archs/phi3/model.gguf")}, true, "s4c runs it: phi3"},
		{[]string{"inspect", shared.Path(t, "conformance/archs/gemma2/model.gguf")}, true, "s4c runs it: gemma2"},
		{[]string{"inspect", shared.Path(t, "conformance/quants/Q2_K.gguf")}, true, "s4c cannot run this file: tensor token_embd.weight is missing"},
		{[]string{"frobnicate"}, false, "unknown command"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--prompts", "/no/such.jsonl"}, false, "prompts file: open /no/such.jsonl"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--tokens", "5"}, false, "-tokens 5: want 1000 to"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--prompts", shared.Path(t, "vocab/ggml-vocab-gpt-2.gguf.out")}, false, "not a JSON object"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--prompts", badPrompts}, false, `want {"prompt": "..."}`},
		{[]string{"heads", "eval", "-m", model, "--heads", "/no/h.gguf"}, false, "no such file"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "s4c", "--heads", shared.Path(t, "vocab/ggml-vocab-gpt-2.gguf")}, false, "not a draft-heads file"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "magic"}, false, "--spec: unknown method \"magic\" (want one of s4c, medusa, s4c-static, s4c-uncoupled, ngram, s4c+ngram, draft, none)"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "s4c+ngram"}, false, "method s4c+ngram needs draft heads: give --heads H.gguf"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "medusa"}, false, "put stories260K.medusa.s4c.gguf beside the model, or make them with 's4c heads train -m " + model + " --independent'"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "medusa", "--heads", "../../models/stories260K.s4c.gguf"}, false, "needs independent heads, and these are S^4C's coherent heads"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "draft"}, false, "method draft needs a draft model"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "ngram", "--draft-model", model}, false, "--draft-model is for --spec draft, not ngram"},
		{[]string{"run", "-m", model, "-p", "x", "--draft-model", "/no/such.gguf"}, false, "--draft-model: stat /no/such.gguf: no such file"},
		{[]string{"run", "-m", model, "-p", "x", "--heads-k", "17"}, false, "-heads-k 17: want 0 to 16"},
		{[]string{"run", "-m", model, "-p", "x", "--heads", "../../models/stories260K.s4c.gguf", "--heads-k", "5"}, false, "5 heads asked for, the heads file has 4"},
		{[]string{"run", "-m", model, "-p", "Once", "-n", "8", "--draft-model", model, "--compare"}, true, "outputs identical"},
		// A draft vocabulary for trained heads, from a text, then used.
		{[]string{"heads", "vocab", "-m", model, "--heads", "../../models/stories260K.s4c.gguf", "--draft-vocab", "64", "--text", story, "-o", vocabHeads}, true, "heads propose 64 of 512 tokens"},
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "40", "--heads", vocabHeads, "--compare"}, true, "outputs identical"},
		// Plain text after a blank first line is plain text (it was taken for broken JSONL).
		{[]string{"heads", "vocab", "-m", model, "--heads", "../../models/stories260K.s4c.gguf", "--draft-vocab", "64", "--text", storyBlank, "-o", vocabHeads}, true, "heads propose 64 of 512 tokens"},
		{[]string{"heads", "vocab", "-m", model, "--heads", "../../models/stories260K.s4c.gguf", "--draft-vocab", "64", "-o", vocabHeads}, false, "--text FILE"},
		{[]string{"heads", "vocab", "-m", model, "--heads", "../../models/stories260K.s4c.gguf", "--draft-vocab", "64", "--text", "/no/such.txt", "-o", vocabHeads}, false, "no such file"},
		{[]string{"heads", "train", "-m", model, "-o", vocabHeads, "--tokens", "3000", "--epochs", "1", "--hidden", "32", "--draft-vocab", "128"}, true, "draft vocabulary: the 128 most frequent of 512 tokens"},
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "30", "--heads", vocabHeads, "--budget", "4", "--compare"}, true, "outputs identical"},
		// Heads stored as float16: half the bytes per draft step, still lossless.
		{[]string{"heads", "convert", "-m", model, "--heads", "../../models/stories260K.s4c.gguf", "--type", "f16", "-o", f16Heads}, true, "weights F16 (were F32)"},
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "40", "--heads", f16Heads, "--budget", "6", "--compare"}, true, "outputs identical"},
		{[]string{"heads", "convert", "-m", model, "--heads", "../../models/stories260K.s4c.gguf", "--type", "q4", "-o", f16Heads}, false, "heads weights are f32 or f16"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--type", "bf16"}, false, "heads weights are f32 or f16"},
		{[]string{"heads", "train", "-m", model, "-o", f16Heads, "--tokens", "2000", "--epochs", "1", "--hidden", "16", "--type", "f16"}, true, "wrote"},
		{[]string{"heads", "convert", "-m", model, "--heads", f16Heads, "--type", "f32"}, true, "weights F32 (were F16)"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--draft-vocab", "-2"}, false, "--draft-vocab -2"},
		{[]string{"model", "inflate", "--from", model, "--shape", "same", "--vocab", "1000", "-o", filepath.Join(t.TempDir(), "b.gguf")}, false, "needs a wider shape"},
		{[]string{"model", "synth", "--shape", "gpt-17", "-o", "/tmp/x.gguf"}, false, "unknown shape"},
		{[]string{"model", "inflate", "--from", model, "--shape", "llama-15m", "-o", filepath.Join(t.TempDir(), "b.gguf")}, false, "cannot hold the model"},
		{[]string{"bench", "engine", "-m", model, "-n", "0"}, false, "want a comma-separated list"},
		{[]string{"bench", "data", "-m", model, "--reps", "1", "--seq-len", "16", "--parallel", "4"}, true, "teacher forced (reading that text, --text)"},
		{[]string{"bench", "data", "-m", model, "--seq-len", "4"}, false, "-seq-len 4: want 8 to"},
		// The comparison harness on Spec-Bench questions (two turns each,
		// the second after plain decoding's answer): every method, one
		// question per category, no output differing from plain.
		{[]string{"bench", "spec", "-m", model, "--heads", "../../models/stories260K.s4c.gguf", "--questions", shared.Path(t, "specbench/question.jsonl"),
			"--limit", "1", "-n", "12", "--methods", "s4c,medusa,s4c-static,ngram,s4c+ngram,draft", "--medusa-heads", "../../models/stories260K.medusa.s4c.gguf",
			"--draft-model", model, "--budget", "4"}, true, "| all | "},
		{[]string{"bench", "spec", "-m", model, "--questions", shared.Path(t, "specbench/question.jsonl"), "--methods", "none,medusa3"}, false, `unknown method "medusa3"`},
		{[]string{"bench", "spec", "-m", model, "--questions", "q.jsonl", "--prompts", "p.jsonl"}, false, "one of --prompts FILE or --questions FILE"},
		// Two heads files in one run: METHOD@FILE.
		{[]string{"bench", "spec", "-m", model, "--heads", vocabHeads, "--prompts", shared.Path(t, "models/stories-prompts.jsonl"), "--max-prompts", "2",
			"-n", "12", "--methods", "s4c,s4c@../../models/stories260K.s4c.gguf,medusa@../../models/stories260K.medusa.s4c.gguf"}, true, "| s4c@../../models/stories260K.s4c.gguf |"},
		{[]string{"bench", "spec", "-m", model, "--prompts", "p.jsonl", "--methods", "ngram@h.gguf"}, false, "ngram drafts without heads"},
		{[]string{"bench", "spec", "-m", model, "--prompts", "p.jsonl", "--methods", "s4c@"}, false, "give the heads file after @"},
		{[]string{"bench", "spec", "-m", model, "--prompts", shared.Path(t, "models/stories-prompts.jsonl"), "--methods", "s4c@/no/such.gguf"}, false, "no such file"},
	}
	for _, c := range cases {
		outb, err := exec.Command(bin, c.args...).CombinedOutput()
		if (err == nil) != c.ok || !strings.Contains(string(outb), c.contains) {
			t.Errorf("s4c %s: err=%v, output:\n%s\nwant ok=%v and %q", strings.Join(c.args, " "), err, outb, c.ok, c.contains)
		}
		if strings.Contains(string(outb), "panic") || strings.Contains(string(outb), "goroutine") {
			t.Errorf("s4c %s panicked:\n%s", strings.Join(c.args, " "), outb)
		}
	}
}

// TestNoWritesToShared: nothing the tests run leaves files beside the shared
// model (heads are only ever written where -o says).
func TestNoWritesToShared(t *testing.T) {
	dir := filepath.Dir(shared.Path(t, "models/stories260K.gguf"))
	for _, f := range []string{"stories260K.s4c.gguf", "stories260K.s4c.gguf.data", "stories260K.s4c.gguf.ckpt"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			t.Errorf("%s exists in the shared directory", f)
		}
	}
}

// TestExitCodes: every bad flag value, unwritable output and interruption
// ends in one clear line and the documented exit code, never a panic.
func TestExitCodes(t *testing.T) {
	model := shared.Path(t, "models/stories260K.gguf")
	heads := "../../models/stories260K.s4c.gguf"
	bin := build(t)
	tmp := t.TempDir()
	keptData := filepath.Join(tmp, "kept.data")
	// An earlier run's data at the default place, OUT.data.
	defaultData := filepath.Join(tmp, "d.gguf.data")
	for _, p := range []string{keptData, defaultData} {
		if err := os.WriteFile(p, []byte("hours of generated data"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	prompts := shared.Path(t, "models/stories-prompts.jsonl")
	cases := []struct {
		args     []string
		code     int
		contains string
	}{
		{[]string{"run", "-m", model, "-p", "x", "--budget", "-3"}, 2, "-budget -3: want 0 to 1024"},
		{[]string{"run", "-m", model, "-p", "x", "--heads", heads, "--budget", "5000"}, 2, "-budget 5000"},
		{[]string{"bench", "spec", "-m", model, "--heads", heads, "--prompts", prompts, "--budget", "-3"}, 2, "-budget -3"},
		{[]string{"bench", "spec", "-m", model, "--heads", heads, "--prompts", prompts, "-n", "0"}, 2, "-n 0: want 1 to"},
		{[]string{"heads", "eval", "-m", model, "--heads", heads, "--budget", "-3"}, 2, "-budget -3"},
		{[]string{"heads", "eval", "-m", model, "--heads", heads, "-n", "0"}, 2, "-n 0: want 1 to"},
		{[]string{"heads", "eval", "-m", model, "--heads", heads, "-n", "-4"}, 2, "-n -4: want 1 to"},
		{[]string{"bench", "engine", "-m", model, "-reps", "0"}, 2, "-reps 0: want 1 to 1000"},
		{[]string{"bench", "engine", "-m", model, "-n", "1,0"}, 2, "-n \"1,0\": want a comma-separated list"},
		{[]string{"bench", "engine", "-m", model, "-n", "abc"}, 2, "-n \"abc\": want a comma-separated list"},
		{[]string{"bench", "engine", "-m", model, "-reps", "-1"}, 2, "-reps -1"},
		{[]string{"bench", "engine", "-m", model, "-ctx", "-5"}, 2, "-ctx -5"},
		{[]string{"bench", "engine", "-m", model, "-ctx", "4000"}, 1, "exceed the model's context of 2048 tokens"},
		{[]string{"run", "-m", model, "-p", "x", "--threads", "-2"}, 2, "-threads -2"},
		{[]string{"run", "-m", model, "-p", "x", "--ctx", "-5"}, 2, "-ctx -5"},
		{[]string{"run", "-m", model, "-p", "x", "-n", "0"}, 2, "-n 0: want at least 1"},
		// A huge -n generates until the context is full (no overflow).
		{[]string{"run", "-m", model, "-p", "Once", "-n", "9223372036854775807", "--spec", "none"}, 0, "stop: context"},
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "h.gguf"), "--hidden", "100000000"}, 2, "-hidden 100000000: want 1 to 65536"},
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "h.gguf"), "--hidden", "65537"}, 2, "-hidden 65537"},
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "h.gguf"), "--lr", "NaN"}, 2, "-lr NaN"},
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "h.gguf"), "--lr", "0"}, 2, "-lr 0: want a number above 0"},
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "h.gguf"), "--greedy", "NaN"}, 2, "-greedy NaN"},
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "h.gguf"), "--temp", "Inf"}, 2, "-temp +Inf"},
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "no", "dir", "h.gguf")}, 1, "cannot write " + filepath.Join(tmp, "no", "dir", "h.gguf")},
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "h.gguf"), "--data", "/proc/h.data"}, 1, "cannot write /proc/h.data"},
		// Data named with --data are kept, not regenerated over (the
		// check after the loop sees the file still there).
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "h.gguf"), "--data", keptData}, 2, "exists: add --resume to train on it"},
		// So are an earlier run's at the default place.
		{[]string{"heads", "train", "-m", model, "-o", filepath.Join(tmp, "d.gguf")}, 2, "d.gguf.data (an earlier run's data) exists: add --resume"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"run", "-m", model, "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"heads"}, 2, "usage: s4c heads"},
		{[]string{"run", "-m", "/no/such.gguf", "-p", "x"}, 1, "no such file"},
		{[]string{"run", "-p", "x"}, 2, "no model: give -m MODEL.gguf"},
		{[]string{"inspect"}, 2, "give one GGUF file"},
	}
	for _, c := range cases {
		cmd := exec.Command(bin, c.args...)
		outb, _ := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		if code != c.code || !strings.Contains(string(outb), c.contains) {
			t.Errorf("s4c %s: exit %d, output:\n%s\nwant exit %d and %q", strings.Join(c.args, " "), code, outb, c.code, c.contains)
		}
		if strings.Contains(string(outb), "panic") || strings.Contains(string(outb), "goroutine ") {
			t.Errorf("s4c %s panicked:\n%s", strings.Join(c.args, " "), outb)
		}
	}
	for _, p := range []string{keptData, defaultData} {
		if b, err := os.ReadFile(p); err != nil || string(b) != "hours of generated data" {
			t.Errorf("heads train without --resume changed or removed the data file %s: %q, %v", p, b, err)
		}
	}
}

// TestOutputErrors: output that cannot be written (a full disk) is an
// error, not a silent exit 0.
func TestOutputErrors(t *testing.T) {
	model := shared.Path(t, "models/stories260K.gguf")
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full on this system")
	}
	bin := build(t)
	for _, args := range [][]string{
		{"run", "-m", model, "-p", "Once upon a time", "-n", "64"},
		{"inspect", model},
	} {
		full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, args...)
		cmd.Stdout = full
		var stderr strings.Builder
		cmd.Stderr = &stderr
		cmd.Run()
		full.Close()
		if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "writing output: write /dev/stdout: no space left on device") {
			t.Errorf("s4c %s > /dev/full: exit %d, stderr:\n%s", strings.Join(args, " "), code, stderr.String())
		}
	}
}

// TestTrainInterrupted: SIGINT during 'heads train' keeps the work (the data
// generated so far), says how to resume, and exits 130.
func TestTrainInterrupted(t *testing.T) {
	model := shared.Path(t, "models/stories260K.gguf")
	bin := build(t)
	out := filepath.Join(t.TempDir(), "h.gguf")
	cmd := exec.Command(bin, "heads", "train", "-m", model, "-o", out, "--tokens", "100000000", "--threads", "1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until data generation has written something, then interrupt.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if st, err := os.Stat(out + ".data"); err == nil && st.Size() > 4096 {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no data after 60 s; stderr:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 130 || !strings.Contains(stderr.String(), "rerun with --resume") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if st, err := os.Stat(out + ".data"); err != nil || st.Size() == 0 {
		t.Fatalf("data file lost: %v", err)
	}
}

// TestTrainKilledResumes: 'heads train' killed with SIGKILL after a
// periodic checkpoint, then run again with --resume, writes bit for bit the
// heads an uninterrupted run writes.
func TestTrainKilledResumes(t *testing.T) {
	model := shared.Path(t, "models/stories260K.gguf")
	bin := build(t)
	args := func(out string) []string {
		return []string{"heads", "train", "-m", model, "-o", out, "--tokens", "3000", "--seq-len", "100", "--epochs", "3",
			"--hidden", "64", "--batch", "16", "--threads", "1", "--checkpoint-every", "20"}
	}
	whole := filepath.Join(t.TempDir(), "whole.gguf")
	if out, err := exec.Command(bin, args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	killed := filepath.Join(t.TempDir(), "killed.gguf")
	cmd := exec.Command(bin, args(killed)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(120 * time.Second)
	for {
		if _, err := os.Stat(killed + ".ckpt"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("no checkpoint after 120 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill() // SIGKILL: nothing saved at the stop
	cmd.Wait()
	if _, err := os.Stat(killed); err == nil {
		t.Skip("the run finished before it could be killed (machine too fast for this test's sizes)")
	}
	if out, err := exec.Command(bin, append(args(killed), "--resume")...).CombinedOutput(); err != nil || !strings.Contains(string(out), "resuming at step") {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	a, err := gguf.Open(whole)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := gguf.Open(killed)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if len(a.Tensors) != len(b.Tensors) {
		t.Fatalf("%d tensors vs %d", len(a.Tensors), len(b.Tensors))
	}
	for i := range a.Tensors {
		ta := &a.Tensors[i]
		tb, ok := b.Tensor(ta.Name)
		if !ok || !bytes.Equal(a.TensorData(ta), b.TensorData(tb)) {
			t.Fatalf("tensor %s differs between the uninterrupted and the killed-and-resumed run", ta.Name)
		}
	}
}

// TestBenchSpecResume: with --out, bench spec keeps one line per finished
// task; a rerun with the same settings measures nothing again and reports
// the same table, a torn last line runs that task again, other settings
// are refused, and the chart is an SVG document.
func TestBenchSpecResume(t *testing.T) {
	model := shared.Path(t, "models/stories260K.gguf")
	bin := build(t)
	out := t.TempDir()
	args := []string{"bench", "spec", "-m", model, "--prompts", shared.Path(t, "models/stories-prompts.jsonl"), "--max-prompts", "3",
		"-n", "16", "--methods", "none,ngram", "--out", out}
	run := func(args ...string) string {
		t.Helper()
		b, err := exec.Command(bin, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("s4c %s: %v\n%s", strings.Join(args, " "), err, b)
		}
		return string(b)
	}
	table := func(s string) string { return s[strings.Index(s, "| category"):] }
	first := run(args...)
	prog := filepath.Join(out, "progress.jsonl")
	lines := func() []string {
		b, err := os.ReadFile(prog)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	if n := len(lines()); n != 4 {
		t.Fatalf("progress file has %d lines, want a header and 3 tasks", n)
	}
	second := run(args...)
	if !strings.Contains(second, "resuming: 3 of 3 tasks") || table(second) != table(first) {
		t.Fatalf("rerun did not resume to the same table:\n%s\nfirst:\n%s", second, first)
	}
	// Tear the last task's line: that task runs again, the others not.
	l := lines()
	torn := strings.Join(l[:3], "\n") + "\n" + l[3][:len(l[3])/2]
	if err := os.WriteFile(prog, []byte(torn), 0o644); err != nil {
		t.Fatal(err)
	}
	if third := run(args...); !strings.Contains(third, "resuming: 2 of 3 tasks") {
		t.Fatalf("after a torn line:\n%s", third)
	}
	if n := len(lines()); n != 4 {
		t.Fatalf("after the torn task ran again the progress file has %d lines, want 4", n)
	}
	other := append(append([]string(nil), args...), "--temp", "0.5")
	if b, err := exec.Command(bin, other...).CombinedOutput(); err == nil || !strings.Contains(string(b), "holds a run with other settings") {
		t.Fatalf("other settings on the same --out: err %v\n%s", err, b)
	}
	run(append(other, "--fresh")...)
	svg, err := os.ReadFile(filepath.Join(out, "compare.svg"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name
	}
	if err := xml.Unmarshal(svg, &doc); err != nil || doc.XMLName.Local != "svg" || !strings.Contains(string(svg), "ngram") {
		t.Fatalf("compare.svg is not an SVG chart naming the method (%v, root %q)", err, doc.XMLName.Local)
	}
}

// TestOnlyCategories: --categories keeps the named categories' questions
// in file order, and names the categories there are when one is wrong.
func TestOnlyCategories(t *testing.T) {
	tasks := []bench.Task{{Category: "qa"}, {Category: "rag"}, {Category: "qa"}, {Category: "writing"}}
	for _, tc := range []struct {
		list    string
		want    []string
		wantErr string
	}{
		{"", []string{"qa", "rag", "qa", "writing"}, ""},
		{"writing, qa", []string{"qa", "qa", "writing"}, ""},
		{"qa,", []string{"qa", "qa"}, ""},
		{"math", nil, `no questions of category "math" (the file has qa, rag, writing)`},
		{" , ", nil, "names no category"},
	} {
		got, err := onlyCategories(tasks, tc.list)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want one saying %q", tc.list, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.list, err)
			continue
		}
		var cats []string
		for _, k := range got {
			cats = append(cats, k.Category)
		}
		if strings.Join(cats, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%q: kept %v, want %v", tc.list, cats, tc.want)
		}
	}
}
