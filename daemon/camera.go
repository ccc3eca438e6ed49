package daemon

import (
	"context"
	"log/slog"
	"time"

	"doorbell/camera"
	"doorbell/config"
)

// openerFor returns the opener for the source the config names.
func openerFor(c config.Camera, log *slog.Logger) camera.Opener {
	switch c.Source {
	case "file":
		return func(ctx context.Context) (camera.Source, error) {
			return camera.OpenFile(ctx, camera.FileConfig{Path: c.File.Path, Width: c.Width, Height: c.Height,
				Loop: c.File.Loop, Realtime: c.File.Realtime})
		}
	case "v4l2":
		return func(ctx context.Context) (camera.Source, error) {
			return camera.OpenV4L2(ctx, camera.V4L2Config{Device: c.V4L2.Device, Width: c.Width, Height: c.Height, FPS: c.FPS}, log)
		}
	case "rpicam":
		return func(ctx context.Context) (camera.Source, error) {
			return camera.OpenRpicam(ctx, camera.RpicamConfig{Command: c.Rpicam.Command, Args: c.Rpicam.Args,
				Width: c.Width, Height: c.Height, FPS: c.FPS})
		}
	default:
		return func(ctx context.Context) (camera.Source, error) {
			return camera.NewSynthetic(SyntheticConfig(c))
		}
	}
}

// SyntheticConfig turns the config's synthetic section into the camera's.
func SyntheticConfig(c config.Camera) camera.SyntheticConfig {
	s := c.Synthetic
	return camera.SyntheticConfig{
		Width: c.Width, Height: c.Height, FPS: c.FPS, Seed: s.Seed, Noise: s.Noise,
		VisitorPeriod: seconds(s.VisitorPeriod), VisitorStay: seconds(s.VisitorStay),
		LightingRamp: seconds(s.LightingRamp), Realtime: true,
	}
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
