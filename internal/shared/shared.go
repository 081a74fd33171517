// Package shared locates the project's shared test data (../shared beside
// the repository: real models, tokenizer vocabularies, benchmark prompts).
package shared

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the shared data directory: $S4C_SHARED if set, else the
// "shared" folder beside the repository root. It returns "" if there is none.
func Dir() string {
	if d := os.Getenv("S4C_SHARED"); d != "" {
		return d
	}
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			s := filepath.Join(filepath.Dir(d), "shared")
			if st, err := os.Stat(s); err == nil && st.IsDir() {
				return s
			}
			return ""
		}
		if filepath.Dir(d) == d {
			return ""
		}
	}
}

// Path returns the path of a file under the shared directory, or skips the
// test with a clear message where it is absent. Under CI (CI=true) a missing
// file fails the test instead: CI always has ../shared.
func Path(t testing.TB, rel string) string {
	t.Helper()
	d := Dir()
	p := filepath.Join(d, rel)
	if d != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	msg := "shared test data " + rel + " not found (expected ../shared beside the repository, or set S4C_SHARED)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// Twin is where benchmarks look for the story model's 1.1B F16 twin: the
// S4C_TWIN environment variable, else where 'make demo' leaves it. It may
// not exist; callers skip with a message then.
func Twin() string {
	if p := os.Getenv("S4C_TWIN"); p != "" {
		return p
	}
	return "/tmp/s4c-demo/stories-1.1b-f16.gguf"
}
