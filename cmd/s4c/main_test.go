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
	}
	for _, c := range cases {
		out, err := exec.Command(bin, c.args...).CombinedOutput()
		if (err == nil) != c.ok || !strings.Contains(string(out), c.contains) {
			t.Errorf("s4c %s: err=%v, output:\n%s\nwant ok=%v and %q", strings.Join(c.args, " "), err, out, c.ok, c.contains)
		}
		if strings.Contains(string(out), "panic") || strings.Contains(string(out), "goroutine") {
			t.Errorf("s4c %s panicked:\n%s", strings.Join(c.args, " "), out)
		}
	}
}
