package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
)

// Progress is a comparison's progress file: a first line naming the
// settings, then one TaskResult per line, appended (and synced) as each
// task ends, so that a run stopped at any moment resumes after its last
// finished task and counts the earlier ones as they were measured.
type Progress struct {
	path string
	f    *os.File
}

type progressHeader struct {
	Settings string `json:"settings"`
}

// OpenProgress opens path for a comparison with these settings (any text
// that must match for results to be merged: model, methods, tasks,
// sampling). It returns the tasks a previous run with the same settings
// finished. A file of other settings is an error unless fresh, which
// starts over. A last line cut short by a crash is dropped.
func OpenProgress(path, settings string, fresh bool) (*Progress, map[int]*TaskResult, error) {
	done := map[int]*TaskResult{}
	if f, err := os.Open(path); err == nil && !fresh {
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<26)
		var hdr progressHeader
		if sc.Scan() {
			if err := json.Unmarshal(sc.Bytes(), &hdr); err != nil || hdr.Settings != settings {
				f.Close()
				return nil, nil, fmt.Errorf("%s holds a run with other settings (or is not a progress file): give another --out, or --fresh to start over", path)
			}
		}
		for sc.Scan() {
			var tr TaskResult
			if err := json.Unmarshal(sc.Bytes(), &tr); err != nil {
				break // a line cut short: that task runs again
			}
			done[tr.Task] = &tr
		}
		f.Close()
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, err
	}
	// Rewrite the file with what is kept (dropping a torn last line).
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return nil, nil, err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	enc.Encode(progressHeader{settings})
	for _, tr := range done {
		enc.Encode(tr)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, nil, err
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, err
	}
	return &Progress{path: path, f: f}, done, nil
}

// Add records a finished task.
func (p *Progress) Add(tr *TaskResult) error {
	b, err := json.Marshal(tr)
	if err != nil {
		return err
	}
	if _, err := p.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%s: %w", p.path, err)
	}
	return p.f.Sync()
}

// Close closes the file.
func (p *Progress) Close() error { return p.f.Close() }
