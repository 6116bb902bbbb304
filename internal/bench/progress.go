package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progressInterval is how often the progress line is redrawn.
const progressInterval = 100 * time.Millisecond

// progress draws one line on a terminal for the phase that is running:
// its name, a bar, the count done and the rate. Without a writer it
// draws nothing and costs an atomic add per operation.
type progress struct {
	w  io.Writer
	mu sync.Mutex // serializes drawing
}

func newProgress(w io.Writer) *progress { return &progress{w: w} }

// phase is one step being measured.
type phase struct {
	p        *progress
	name     string
	total    int64
	limit    time.Duration
	start    time.Time
	n        atomic.Int64
	stop     chan struct{}
	finished chan struct{}
	once     sync.Once
}

// start begins a phase of total operations (0 when unknown) bounded by
// limit (0 when unbounded), and draws it until done.
func (p *progress) start(name string, total int64, limit time.Duration) *phase {
	ph := &phase{p: p, name: name, total: total, limit: limit, start: time.Now()}
	if p.w == nil {
		return ph
	}
	ph.stop, ph.finished = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(ph.finished)
		t := time.NewTicker(progressInterval)
		defer t.Stop()
		for {
			select {
			case <-ph.stop:
				return
			case <-t.C:
				p.draw(ph)
			}
		}
	}()
	return ph
}

// add counts n operations done.
func (ph *phase) add(n int64) { ph.n.Add(n) }

// done ends the phase and clears its line.
func (ph *phase) done() {
	ph.once.Do(func() {
		if ph.stop == nil {
			return
		}
		close(ph.stop)
		<-ph.finished
		ph.p.clear()
	})
}

const barWidth = 24

func (p *progress) draw(ph *phase) {
	n := ph.n.Load()
	el := time.Since(ph.start)
	frac := -1.0
	if ph.total > 0 {
		frac = float64(n) / float64(ph.total)
	}
	if ph.limit > 0 {
		frac = max(frac, float64(el)/float64(ph.limit))
	}
	var bar string
	if frac >= 0 {
		frac = min(frac, 1)
		full := int(frac * barWidth)
		bar = fmt.Sprintf("[%s%s] %3d%%", strings.Repeat("#", full), strings.Repeat("-", barWidth-full), int(frac*100))
	}
	rate := 0.0
	if s := el.Seconds(); s > 0 {
		rate = float64(n) / s
	}
	line := fmt.Sprintf("%-22s %s %10s done %10s/s %6.1fs", ph.name, bar, thousands(float64(n)), thousands(rate), el.Seconds())
	p.mu.Lock()
	fmt.Fprintf(p.w, "\r\x1b[K%s", line)
	p.mu.Unlock()
}

// clear erases the progress line.
func (p *progress) clear() {
	if p.w == nil {
		return
	}
	p.mu.Lock()
	fmt.Fprint(p.w, "\r\x1b[K")
	p.mu.Unlock()
}

// thousands formats v rounded, with thin separators every three digits.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
