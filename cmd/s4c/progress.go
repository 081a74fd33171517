package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
)

// progress is the bar of a long phase (writing a model, generating
// training data, training, a benchmark): its share done, its rate and its
// remaining time, with a line of details. Drawing, throttling and the
// estimate of the time left are github.com/schollz/progressbar's (widely
// used, pure Go, no cgo), rather than this program's own.
//
// A phase resumed from earlier work (data on file, a checkpoint, a
// benchmark's finished tasks) counts only the work this run does in its
// rate and time left: the bar's range is what was left when it started.
// On a terminal the bar is redrawn in place at most ten times a second;
// to a file or a pipe (a log) a line is written every ten seconds
// instead, so a log stays readable.
type progress struct {
	b        *progressbar.ProgressBar
	what     string
	base     int64
	tty      bool
	lastLine time.Time
	idle     bool // nothing left to do (a phase resumed when it had finished): b is nil
}

// stderrIsTerminal says whether progress can redraw one line in place.
var stderrIsTerminal = func() bool {
	st, err := os.Stderr.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}()

// newProgress starts the bar of a phase of total units, done of which
// were done before this run, and makes it the one endBar ends. unit names
// the units for the rate ("bytes": counts drawn as sizes).
func newProgress(what string, total, done int64, unit string) *progress {
	if done > 0 {
		// The bar spans this run's work; say where the phase stood.
		what = fmt.Sprintf("%s (resumed at %d of %d)", what, done, total)
	}
	p := &progress{what: what, base: done, tty: stderrIsTerminal, lastLine: time.Now(), idle: done >= total}
	current = p
	if p.idle {
		return p // update and finish do nothing: no bar is made
	}
	var w io.Writer = os.Stderr
	throttle := 100 * time.Millisecond
	if !p.tty {
		// Rendered for String only; update writes the lines.
		w, throttle = io.Discard, 0
	}
	opts := []progressbar.Option{progressbar.OptionShowBytes(true)}
	if unit != "bytes" {
		opts = []progressbar.Option{progressbar.OptionShowIts(), progressbar.OptionSetItsString(unit)}
	}
	p.b = progressbar.NewOptions64(total-done, append(opts,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetWidth(20),
		progressbar.OptionThrottle(throttle),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetElapsedTime(true),
		progressbar.OptionShowDescriptionAtLineEnd(),
		progressbar.OptionSetTheme(progressbar.Theme{Saucer: "#", SaucerPadding: ".", BarStart: "[", BarEnd: "]"}),
	)...)
	p.b.StartWithoutRender()
	return p
}

// current is the bar drawn last, which endBar ends.
var current *progress

// endBar ends the current bar's line, if a bar was drawn.
func endBar() {
	if current != nil {
		current.finish()
		current = nil
	}
}

// update sets the units done (counted from the phase's start, not this
// run's) and the details shown beside the bar.
func (p *progress) update(done int64, detail string) {
	if p.idle {
		return
	}
	p.b.Describe(strings.TrimSpace(p.what + " " + detail))
	p.b.Set64(done - p.base)
	if p.tty || (time.Since(p.lastLine) < 10*time.Second && done-p.base < p.b.GetMax64()) {
		return
	}
	p.lastLine = time.Now()
	fmt.Fprintln(os.Stderr, strings.TrimSpace(strings.ReplaceAll(p.b.String(), "\r", "")))
}

// finish ends the bar's line on a terminal (the bar stays as it was: a
// phase stopped early is not drawn full).
func (p *progress) finish() {
	if p.tty && !p.idle {
		p.b.Exit()
		fmt.Fprintln(os.Stderr)
	}
}
