package camera

import (
	"context"
	"time"
)

// Pacer releases frames at a fixed rate: frame n is due n/FPS after the first.
type Pacer struct {
	FPS   float64
	Now   func() time.Time // nil: time.Now
	start time.Time
	timer *time.Timer
}

func (p *Pacer) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Pacer) due(seq uint64) time.Time {
	if p.start.IsZero() {
		p.start = p.now()
	}
	return p.start.Add(time.Duration(float64(seq) / p.FPS * float64(time.Second)))
}

// Overdue says how many whole frame intervals frame seq is late: frames a
// live source should skip rather than queue.
func (p *Pacer) Overdue(seq uint64) uint64 {
	late := p.now().Sub(p.due(seq))
	if late <= 0 {
		return 0
	}
	return uint64(late.Seconds() * p.FPS)
}

// Wait blocks until frame seq is due, or ctx ends.
func (p *Pacer) Wait(ctx context.Context, seq uint64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	wait := p.due(seq).Sub(p.now())
	if wait <= 0 {
		return nil
	}
	if p.timer == nil {
		p.timer = time.NewTimer(wait)
	} else {
		p.timer.Reset(wait)
	}
	select {
	case <-ctx.Done():
		p.timer.Stop()
		return ctx.Err()
	case <-p.timer.C:
		return nil
	}
}
