// Command s4c runs GGUF language models with S^4C speculative decoding.
//
//	s4c run -m MODEL.gguf -p "Once upon a time" -n 128
//	s4c inspect MODEL.gguf
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
)

var commands = []struct {
	name, summary string
	run           func(args []string) error
}{
	{"run", "generate text from a prompt", cmdRun},
	{"inspect", "print a GGUF file's metadata and tensor table", cmdInspect},
	{"heads", "train (self-distillation), evaluate or inflate S^4C draft heads", cmdHeads},
	{"model", "write synthetic or inflated models (synth, inflate)", cmdModel},
	{"bench", "benchmark the engine (t(N)/t(1), decode, prompt) or S^4C against plain decoding", cmdBench},
}

func usage() {
	fmt.Fprintf(os.Stderr, "s4c: a pure-Go LLM inference engine with S^4C speculative decoding\n\nUsage: s4c <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 's4c <command> -h' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	if name == "-h" || name == "--help" || name == "help" {
		usage()
		return
	}
	for _, c := range commands {
		if c.name == name {
			stop := startProfile()
			err := c.run(os.Args[2:])
			stop()
			if err != nil {
				if errors.Is(err, flag.ErrHelp) {
					return
				}
				fmt.Fprintf(os.Stderr, "s4c %s: %v\n", name, err)
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "s4c: unknown command %q\n\n", name)
	usage()
	os.Exit(2)
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
		return err
	}
	if fs.NArg() > maxPositional {
		return fmt.Errorf("unexpected argument %q (flags go before positional arguments; see -h)", fs.Arg(maxPositional))
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
		return fmt.Errorf("usage: s4c %s %s [flags] (see 's4c %s %s -h')", group, want, group, names[0])
	}
	for _, sc := range subs {
		if sc.name == args[0] {
			return sc.run(args[1:])
		}
	}
	return fmt.Errorf("unknown 's4c %s %s': want %s", group, args[0], want)
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
