// Command s4c runs GGUF language models with S^4C speculative decoding.
//
//	s4c run -m MODEL.gguf -p "Once upon a time" -n 128
//	s4c inspect MODEL.gguf
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
)

var commands = []struct {
	name, summary string
	run           func(args []string) error
	group         bool // has subcommands ('s4c heads train')
}{
	{"run", "generate text from a prompt", cmdRun, false},
	{"serve", "serve a model over HTTP: OpenAI and ollama APIs, a chat page, metrics", cmdServe, false},
	{"inspect", "print a GGUF file's metadata and tensor table", cmdInspect, false},
	{"heads", "train (self-distillation), evaluate or inflate S^4C draft heads", cmdHeads, true},
	{"model", "write synthetic or inflated models (synth, inflate)", cmdModel, true},
	{"bench", "benchmark the engine (t(N)/t(1), decode, prompt) or S^4C against plain decoding", cmdBench, true},
}

func usage() {
	fmt.Fprintf(os.Stderr, "s4c: a pure-Go LLM inference engine with S^4C speculative decoding\n\nUsage: s4c <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 's4c <command> -h' for a command's flags.\n")
}

// Exit codes (listed in the README).
const (
	exitOK          = 0
	exitError       = 1   // the command failed: bad file, failed write, bug
	exitUsage       = 2   // bad command line: unknown command or flag, value out of range
	exitInterrupted = 130 // stopped by SIGINT (Ctrl-C); what was done is kept
)

// usageError marks an error in the command line (exit code 2).
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// errInterrupted ends a command stopped by SIGINT after it saved its work
// (exit code 130); the message says how to continue.
type errInterrupted struct{ msg string }

func (e errInterrupted) Error() string { return e.msg }

// checkedWriter is standard output that remembers its first write error
// (a full disk, a closed descriptor), so the command stops and says so
// instead of exiting 0 with its output lost.
type checkedWriter struct {
	w   io.Writer
	err error
}

func (c *checkedWriter) Write(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

// stdout is where commands print their results.
var stdout = &checkedWriter{w: os.Stdout}

func main() {
	os.Exit(runMain(os.Args[1:]))
}

// runMain runs a command line and returns the process's exit code.
func runMain(args []string) int {
	if len(args) < 1 {
		usage()
		return exitUsage
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return exitOK
	}
	for _, c := range commands {
		if c.name != name {
			continue
		}
		if c.group && len(args) > 1 && !strings.HasPrefix(args[1], "-") && len(args[1]) < 20 {
			name += " " + args[1] // "s4c heads train: …"
		}
		stop := startProfile()
		err := c.run(args[1:])
		stop()
		if err == nil && stdout.err != nil {
			err = stdout.err
		}
		var intr errInterrupted
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &intr):
			fmt.Fprintf(os.Stderr, "s4c %s: %v\n", name, err)
			return exitInterrupted
		case stdout.err != nil && errors.Is(err, stdout.err):
			fmt.Fprintf(os.Stderr, "s4c %s: writing output: %v\n", name, stdout.err)
			return exitError
		}
		fmt.Fprintf(os.Stderr, "s4c %s: %v\n", name, err)
		var ue usageError
		if errors.As(err, &ue) {
			return exitUsage
		}
		return exitError
	}
	fmt.Fprintf(os.Stderr, "s4c: unknown command %q\n\n", name)
	usage()
	return exitUsage
}

// newFlags makes a flag set that reports errors instead of exiting.
func newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: s4c %s %s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and rejects stray positional arguments unless allowed.
func parse(fs *flag.FlagSet, args []string, maxPositional int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > maxPositional {
		return usageError{fmt.Errorf("unexpected argument %q (flags go before positional arguments; see -h)", fs.Arg(maxPositional))}
	}
	return nil
}

type subcommand struct {
	name string
	run  func(args []string) error
}

// dispatch runs the subcommand of "s4c group" named by args[0].
func dispatch(group string, args []string, subs []subcommand) error {
	names := make([]string, len(subs))
	for i, sc := range subs {
		names[i] = sc.name
	}
	want := strings.Join(names, "|")
	if len(args) == 0 {
		return usageError{fmt.Errorf("usage: s4c %s %s [flags] (see 's4c %s %s -h')", group, want, group, names[0])}
	}
	for _, sc := range subs {
		if sc.name == args[0] {
			return sc.run(args[1:])
		}
	}
	return usageError{fmt.Errorf("unknown subcommand of 's4c %s' (want %s)", group, want)}
}

// startProfile writes a CPU profile to $S4C_CPUPROFILE, if set, for
// 'go tool pprof'; the returned function ends it.
func startProfile() func() {
	path := os.Getenv("S4C_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "s4c: S4C_CPUPROFILE: %v (no profile written)\n", err)
		return func() {}
	}
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// intFlag is an integer flag's value and the range it must lie in.
type intFlag struct {
	name   string
	v      int
	lo, hi int
}

// maxThreads bounds --threads: the pool keeps per-thread scratch space.
const maxThreads = 1024

// checkInts returns an error naming the first flag outside its range, so a
// bad value stops the command before any model is loaded.
func checkInts(fl ...intFlag) error {
	for _, f := range fl {
		if f.v < f.lo || f.v > f.hi {
			if f.hi == math.MaxInt {
				return usageError{fmt.Errorf("-%s %d: want at least %d", f.name, f.v, f.lo)}
			}
			return usageError{fmt.Errorf("-%s %d: want %d to %d", f.name, f.v, f.lo, f.hi)}
		}
	}
	return nil
}

// floatFlag is a float flag's value and its range (above lo if open, else
// from lo).
type floatFlag struct {
	name   string
	v      float64
	lo, hi float64
	open   bool
}

// checkFloats is checkInts for floats; NaN and infinities are refused.
func checkFloats(fl ...floatFlag) error {
	for _, f := range fl {
		low := f.v < f.lo || (f.open && f.v == f.lo)
		if math.IsNaN(f.v) || low || f.v > f.hi {
			from := "from"
			if f.open {
				from = "above"
			}
			return usageError{fmt.Errorf("-%s %v: want a number %s %v up to %v", f.name, f.v, from, f.lo, f.hi)}
		}
	}
	return nil
}

// checkWritable reports whether a file can be created at path (its folder
// exists and takes new files), by creating and removing a temporary file
// beside it. Nothing existing is touched.
func checkWritable(path string) error {
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	} else if !st.IsDir() {
		return fmt.Errorf("cannot write %s: %s is not a directory", path, dir)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return fmt.Errorf("cannot write %s: it is a directory", path)
	}
	f, err := os.CreateTemp(dir, ".s4c-write-check-*")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}
