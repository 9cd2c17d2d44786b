package gauntlet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// Outcome is what running one cell gave.
type Outcome struct {
	Status     string // Pass, Fail, Skip or Error
	Reason     string
	ExitStatus int
	ScenarioNs int64 // the script's own duration, from its result; 0 unknown
}

// CellRunner runs one cell: it writes the cell's ktstar --json result to
// resultPath (or nothing) and what it prints to log. It returns an error
// only when it was cancelled (ctx); every other failure is an Outcome
// with Status Error, so the gauntlet goes on.
type CellRunner func(ctx context.Context, c Cell, resultPath string, log io.Writer) (Outcome, error)

// Progress is the state of a run, given to Options.Progress after every
// cell that starts or ends.
type Progress struct {
	Total                           int // the shard's cells
	Resumed                         int // finished by an earlier run, skipped now
	Done                            int // finished, Resumed included
	Passed, Failed, Skipped, Errors int
	Running                         []Cell
	// ETA is the time the cells left should take at this run's mean cell
	// time and parallelism; 0 before a cell of this run has ended.
	ETA time.Duration
	// Last is the cell that just ended; nil when one just started.
	Last *Record
}

// Options configure Execute.
type Options struct {
	Results  *Results // from Prepare
	Cells    []Cell   // this shard's cells
	Shard    Shard
	Jobs     int // cells at once (at least 1)
	Run      CellRunner
	Progress func(Progress) // may be nil; called from one goroutine at a time
	// Rerun lists statuses (e.g. Error) whose cells run again although
	// they have a record.
	Rerun []string
}

// Execute runs every cell of o.Cells that has no record yet in
// o.Results (or one of a status in o.Rerun), o.Jobs at a time, storing each one's result, log and record
// as it ends, and rewrites the index. Cancelling ctx stops the cells
// running (they keep no record, so a rerun runs them again) and returns
// ctx's cause.
func Execute(ctx context.Context, o Options) error {
	jobs := max(o.Jobs, 1)
	var todo []Cell
	p := Progress{Total: len(o.Cells)}
	for _, c := range o.Cells {
		if rec, done := o.Results.Records[c.Key()]; done && !slices.Contains(o.Rerun, rec.Status) {
			p.Resumed++
			p.count(rec)
			continue
		}
		todo = append(todo, c)
	}
	var (
		mu      sync.Mutex
		spent   time.Duration // wall time of this run's cells
		ended   int
		firstEr error
	)
	report := func() {
		if o.Progress != nil {
			o.Progress(p)
		}
	}
	mu.Lock()
	report()
	mu.Unlock()
	queue := make(chan Cell)
	var wg sync.WaitGroup
	for range min(jobs, len(todo)) {
		wg.Go(func() {
			for c := range queue {
				mu.Lock()
				p.Running = append(p.Running, c)
				p.Last = nil
				report()
				mu.Unlock()
				rec, err := runCell(ctx, o, c)
				mu.Lock()
				p.Running = removeCell(p.Running, c)
				if err != nil {
					if firstEr == nil {
						firstEr = err
					}
					mu.Unlock()
					continue
				}
				o.Results.Records[rec.Key] = rec
				if err := o.Results.WriteIndex(); err != nil && firstEr == nil {
					firstEr = err
				}
				p.count(rec)
				ended++
				spent += time.Duration(rec.DurationNs)
				left := p.Total - p.Done
				p.ETA = spent / time.Duration(ended) * time.Duration((left+jobs-1)/jobs)
				p.Last = &rec
				report()
				mu.Unlock()
			}
		})
	}
feed:
	for _, c := range todo {
		select {
		case queue <- c:
		case <-ctx.Done():
			break feed
		}
	}
	close(queue)
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if firstEr != nil {
		return firstEr
	}
	return o.Results.WriteIndex()
}

func (p *Progress) count(rec Record) {
	p.Done++
	switch rec.Status {
	case Pass:
		p.Passed++
	case Fail:
		p.Failed++
	case Skip:
		p.Skipped++
	default:
		p.Errors++
	}
}

func removeCell(list []Cell, c Cell) []Cell {
	for i, x := range list {
		if x == c {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// runCell runs one cell into temporary files and, when it ends, moves
// them into place and writes its record last. A cancelled cell leaves
// nothing.
func runCell(ctx context.Context, o Options, c Cell) (Record, error) {
	dir, key := o.Results.Dir, c.Key()
	resultPath, logPath := cellPath(dir, key, resultSuffix), cellPath(dir, key, logSuffix)
	if err := os.MkdirAll(filepath.Dir(resultPath), 0o755); err != nil {
		return Record{}, fmt.Errorf("cell %s: %w", key, err)
	}
	tmpResult, tmpLog := resultPath+".partial", logPath+".partial"
	os.Remove(tmpResult)
	log, err := os.Create(tmpLog)
	if err != nil {
		return Record{}, fmt.Errorf("cell %s: %w", key, err)
	}
	defer os.Remove(tmpLog)
	defer os.Remove(tmpResult)
	start := time.Now()
	out, err := o.Run(ctx, c, tmpResult, log)
	elapsed := time.Since(start)
	cerr := log.Close()
	if err != nil || ctx.Err() != nil {
		return Record{}, errors.Join(err, context.Cause(ctx))
	}
	if cerr != nil {
		return Record{}, fmt.Errorf("cell %s: log: %w", key, cerr)
	}
	rec := Record{Cell: c, Key: key, Status: out.Status, Reason: out.Reason, ExitStatus: out.ExitStatus,
		Start: start.UTC(), DurationNs: int64(elapsed), ScenarioNs: out.ScenarioNs, Shard: o.Shard.String(),
		Log: cellRel(key, logSuffix)}
	if err := os.Rename(tmpLog, logPath); err != nil {
		return Record{}, fmt.Errorf("cell %s: %w", key, err)
	}
	if _, err := os.Stat(tmpResult); err == nil {
		if err := os.Rename(tmpResult, resultPath); err != nil {
			return Record{}, fmt.Errorf("cell %s: %w", key, err)
		}
		rec.Result = cellRel(key, resultSuffix)
	}
	if err := WriteRecord(dir, rec); err != nil {
		return Record{}, fmt.Errorf("cell %s: %w", key, err)
	}
	return rec, nil
}

// AutoJobs is how many guests to run at once: one per host CPU, fewer
// when three quarters of the available memory (0: unknown) would not
// hold that many guests of guestMem bytes; at least one.
func AutoJobs(hostCPUs int, memAvailable, guestMem int64) int {
	jobs := hostCPUs
	if memAvailable > 0 && guestMem > 0 {
		jobs = min(jobs, int(memAvailable/4*3/guestMem))
	}
	return max(jobs, 1)
}
