package daemon

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"doorbell/events"
	"doorbell/motion"
)

// startMotion watches the masked frames for motion inside the zones and
// publishes motion_start and motion_end on the bus.
func (d *Daemon) startMotion(ctx context.Context) error {
	if !d.Cfg.Motion.Enabled {
		d.AddHealth("motion", func() any { return motion.Status{State: "off"} })
		return nil
	}
	cfg := motion.FromConfig(d.Cfg.Motion, d.Cfg.PrivacyMask)
	w, h := d.Cfg.Camera.Width, d.Cfg.Camera.Height
	if d.Cfg.Camera.Source == "synthetic" {
		cfg.Masks = append(cfg.Masks, motion.TimeStripMask(w, h))
	}
	// Fail at start, not at the first frame, if the zones leave nothing to watch.
	probe, err := motion.NewDetector(cfg, w, h)
	if err != nil {
		file := d.Cfg.File
		if file == "" {
			file = "the config"
		}
		return fmt.Errorf("%v (see [[motion.zone]] and [[privacy_mask]] in %s)", err, file)
	}
	probe.Close()

	started := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "doorbell_motion_events_total",
		Help: "Motion events started.",
	})
	took := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "doorbell_motion_detector_milliseconds",
		Help:    "Time the motion detector takes per frame, in milliseconds.",
		Buckets: []float64{0.25, 0.5, 1, 2, 4, 8, 16, 32},
	})
	r := motion.NewRunner(cfg, motion.RunnerOptions{
		Publish: func(e events.Event) {
			if e.Kind == events.MotionStart {
				started.Inc()
				d.Log.Info("motion started", "event", e.ID, "zones", e.Zones)
			} else {
				d.Log.Info("motion ended", "event", e.ID, "zones", e.Zones, "peak", e.Peak)
			}
			d.Bus.Publish(e)
		},
		Observe: func(res *motion.Result) {
			took.Observe(float64(res.Took.Nanoseconds()) / 1e6)
		},
		Log: d.Log,
	})
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
	for _, c := range []prometheus.Collector{started, took, dropped, active} {
		if err := d.Metrics.Register(c); err != nil {
			return fmt.Errorf("motion metrics: %v", err)
		}
	}
	d.AddHealth("motion", func() any { return r.Status() })
	d.AddSink(r)
	d.goBackground(func() { r.Run(ctx) })
	return nil
}
