package daemon

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/config"
	"doorbell/events"
	"doorbell/motion"
)

// motionPart watches the masked frames for motion inside the zones and
// publishes motion_start and motion_end on the bus.
type motionPart struct {
	runner  *motion.Runner // nil with motion off
	started prometheus.Counter
	took    prometheus.Histogram
	bus     *events.Bus
	log     *slog.Logger
}

// newMotion checks the zones against the masks (file names the config in
// errors) and builds the detector's runner.
func newMotion(c config.Motion, masks []config.Region, cam config.Camera, file string, bus *events.Bus, log *slog.Logger) (*motionPart, error) {
	p := &motionPart{bus: bus, log: log,
		started: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "doorbell_motion_events_total",
			Help: "Motion events started.",
		}),
		took: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "doorbell_motion_detector_milliseconds",
			Help:    "Time the motion detector takes per frame, in milliseconds.",
			Buckets: []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32},
		}),
	}
	if !c.Enabled {
		return p, nil
	}
	cfg := motion.FromConfig(c, masks)
	w, h := cam.Width, cam.Height
	if cam.Source == "synthetic" {
		cfg.Masks = append(cfg.Masks, motion.TimeStripMask(w, h))
	}
	// Fail at start, not at the first frame, if the zones leave nothing to watch.
	probe, err := motion.NewDetector(cfg, w, h)
	if err != nil {
		if file == "" {
			file = "the config"
		}
		return nil, fmt.Errorf("%w (see [[motion.zone]] and [[privacy_mask]] in %s)", err, file)
	}
	probe.Close()
	p.runner = motion.NewRunner(cfg, motion.RunnerOptions{Publish: p.publish, Observe: p.observe, Log: log})
	return p, nil
}

func (p *motionPart) publish(e events.Event) {
	if e.Kind == events.MotionStart {
		p.started.Inc()
		p.log.Info("motion started", "event", e.ID, "zones", e.Zones)
	} else {
		p.log.Info("motion ended", "event", e.ID, "zones", e.Zones, "peak", e.Peak)
	}
	p.bus.Publish(e)
}

func (p *motionPart) observe(res *motion.Result) {
	p.took.Observe(float64(res.Took.Nanoseconds()) / 1e6)
}

func (p *motionPart) start(ctx context.Context, h *host) error {
	r := p.runner
	if r == nil {
		h.AddHealth("motion", func() any { return motion.Status{State: "off"} })
		return nil
	}
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "doorbell_motion_frames_dropped_total",
		Help: "Frames the motion detector skipped because it was still busy.",
	}, func() float64 { return float64(r.Dropped()) })
	active := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "doorbell_motion_active",
		Help: "1 while a motion event is going on.",
	}, func() float64 {
		if r.Status().State == motion.Active.String() {
			return 1
		}
		return 0
	})
	if err := registerAll(h.metrics, "motion", p.started, p.took, dropped, active); err != nil {
		return err
	}
	h.AddHealth("motion", func() any { return r.Status() })
	h.AddSink(r)
	h.goBackground(func() { r.Run(ctx) })
	return nil
}
