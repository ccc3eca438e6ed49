package daemon

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"doorbell/config"
	"doorbell/events"
)

// motionHealth is the motion section of /healthz.
func motionHealth(t *testing.T, addr string) map[string]any {
	t.Helper()
	resp, err := insecure.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var h struct{ Motion map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Motion
}

func metrics(t *testing.T, addr string) string {
	t.Helper()
	resp, err := insecure.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// TestMotionEventsFromTheCamera runs the daemon on the synthetic camera: its
// visitor walks in 2 s after the start, stands 1 s and is gone at 7 s.
func TestMotionEventsFromTheCamera(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 15
	cfg.Camera.Synthetic.VisitorPeriod, cfg.Camera.Synthetic.VisitorStay = 60, 1
	cfg.Motion.Quiet = 1
	var sub <-chan events.Event
	_, addr, stop := started(t, cfg, func(d *Daemon) { sub, _ = d.Bus().Subscribe("test", 16) })
	defer stop()
	next := func(kind events.Kind) events.Event {
		t.Helper()
		select {
		case e := <-sub:
			if e.Kind != kind {
				t.Fatalf("got %s, want %s", e.Kind, kind)
			}
			return e
		case <-time.After(15 * time.Second):
			t.Fatalf("no %s within 15 s; /healthz motion: %v", kind, motionHealth(t, addr))
		}
		return events.Event{}
	}
	if h := motionHealth(t, addr); h["state"] == "active" || h["zones"] == nil {
		t.Errorf("motion health before the visitor: %v", h)
	}
	start := next(events.MotionStart)
	if len(start.Zones) != 1 || start.Zones[0] != "all" || start.ID == 0 {
		t.Errorf("motion_start %+v", start)
	}
	h := motionHealth(t, addr)
	if h["state"] != "active" || h["event_id"] != float64(start.ID) || h["detect_ms"] == nil || h["size"] != "320x240" {
		t.Errorf("motion health during the event: %v", h)
	}
	m := metrics(t, addr)
	for _, want := range []string{"doorbell_motion_events_total 1", "doorbell_motion_detector_milliseconds_count", "doorbell_motion_active 1", "doorbell_motion_frames_dropped_total"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	end := next(events.MotionEnd)
	if end.ID != start.ID || end.Time.Sub(start.Time) < 3*time.Second || end.Peak <= 0 {
		t.Errorf("motion_end %+v after start %+v; the visitor stays about 5 s in the picture", end, start)
	}
	if !strings.Contains(metrics(t, addr), "doorbell_motion_active 0") {
		t.Errorf("doorbell_motion_active is not 0 after the event")
	}
}

func TestMotionZoneUnderAMaskStopsTheStart(t *testing.T) {
	cfg := config.Defaults()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.File = "doorbell.toml"
	cfg.PrivacyMask = []config.Region{{Name: "street", Polygon: [][]float64{{0, 0}, {1, 0}, {1, 0.5}, {0, 0.5}}}}
	cfg.Motion.Zone = []config.Region{{Name: "hedge", Polygon: [][]float64{{0.1, 0.1}, {0.4, 0.1}, {0.4, 0.3}}}}
	d := New(Options{Config: cfg, DataDir: t.TempDir(), Log: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := d.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), `zone "hedge" lies wholly under privacy masks`) || !strings.Contains(err.Error(), "doorbell.toml") {
		t.Fatalf("got %v; want the zone's problem, naming the config file", err)
	}
}

func TestMotionOff(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height = 64, 48
	cfg.Motion.Enabled = false
	_, addr, stop := started(t, cfg)
	defer stop()
	if h := motionHealth(t, addr); h["state"] != "off" {
		t.Errorf("motion health with motion off: %v", h)
	}
}
