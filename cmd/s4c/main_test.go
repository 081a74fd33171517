package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

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
	cases := []struct {
		args     []string
		ok       bool
		contains string // in combined output
	}{
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "12"}, true, "Once upon a time, there was a little girl named Lily"},
		{[]string{"run", "-m", model, "-p", "Once upon a time", "-n", "12"}, true, "generated 12 tokens"},
		{[]string{"run", "-p", "x"}, false, "no model: give -m MODEL.gguf"},
		{[]string{"run", "-m", model, "-p", "x", "--temp", "-1"}, false, "temperature -1"},
		{[]string{"run", "-m", model, "-p", "x", "--bogus"}, false, "flag provided but not defined: -bogus"},
		{[]string{"run", "-m", "/no/such.gguf", "-p", "x"}, false, "no such file"},
		{[]string{"run", "-m", shared.Path(t, "vocab/ggml-vocab-gpt-2.gguf"), "-p", "x"}, false, `unsupported architecture "gpt2"`},
		{[]string{"inspect", model}, true, "llama.attention.head_count_kv"},
		{[]string{"inspect", model}, true, "s4c runs it: llama"},
		{[]string{"inspect", shared.Path(t, "vocab/ggml-vocab-phi-3.gguf")}, true, "s4c cannot run this file"},
		{[]string{"frobnicate"}, false, "unknown command"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--prompts", "/no/such.jsonl"}, false, "prompts file: open /no/such.jsonl"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--tokens", "5"}, false, "--tokens 5: want at least 1000"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--prompts", shared.Path(t, "vocab/ggml-vocab-gpt-2.gguf.out")}, false, "not a JSON object"},
		{[]string{"heads", "train", "-m", model, "-o", out, "--prompts", badPrompts}, false, `want {"prompt": "..."}`},
		{[]string{"heads", "eval", "-m", model, "--heads", "/no/h.gguf"}, false, "no such file"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "s4c", "--heads", shared.Path(t, "vocab/ggml-vocab-gpt-2.gguf")}, false, "not a draft-heads file"},
		{[]string{"run", "-m", model, "-p", "x", "--spec", "magic"}, false, "--spec \"magic\""},
		{[]string{"model", "synth", "--shape", "gpt-17", "-o", "/tmp/x.gguf"}, false, "unknown shape"},
		{[]string{"model", "inflate", "--from", model, "--shape", "llama-15m", "-o", filepath.Join(t.TempDir(), "b.gguf")}, false, "cannot hold the model"},
		{[]string{"bench", "engine", "-m", model, "-n", "0"}, false, "want a comma-separated list"},
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
