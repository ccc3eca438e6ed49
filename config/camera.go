package config

import "fmt"

// Camera chooses the frame source and its picture size and rate.
type Camera struct {
	Source    string    `toml:"source"` // synthetic, file, v4l2 or rpicam
	Width     int       `toml:"width"`
	Height    int       `toml:"height"`
	FPS       float64   `toml:"fps"`
	Synthetic Synthetic `toml:"synthetic"`
	File      File      `toml:"file"`
	V4L2      V4L2      `toml:"v4l2"`
	Rpicam    Rpicam    `toml:"rpicam"`
}

// Synthetic sets up the built-in test scene.
type Synthetic struct {
	Seed          int64   `toml:"seed"`
	Noise         float64 `toml:"noise"`          // standard deviation of sensor noise, in Y levels
	VisitorPeriod float64 `toml:"visitor_period"` // seconds between visitors; 0: no visitor
	VisitorStay   float64 `toml:"visitor_stay"`   // seconds a visitor stands at the door
	LightingRamp  float64 `toml:"lighting_ramp"`  // seconds of a slow day/night brightness cycle; 0: none
}

// File plays a video file as the camera.
type File struct {
	Path     string `toml:"path"`
	Loop     bool   `toml:"loop"`
	Realtime bool   `toml:"realtime"` // pace at the file's frame rate; false: as fast as it decodes
}

// V4L2 reads a USB or other V4L2 camera.
type V4L2 struct {
	Device string `toml:"device"`
}

// Rpicam runs the Raspberry Pi camera tool.
type Rpicam struct {
	Command string   `toml:"command"`
	Args    []string `toml:"args"` // extra arguments, e.g. ["--rotation", "180"]
}

func defaultCamera() Camera {
	return Camera{
		Source: "synthetic", Width: 1280, Height: 720, FPS: 30,
		Synthetic: Synthetic{Seed: 1, Noise: 2, VisitorPeriod: 30, VisitorStay: 6},
		File:      File{Loop: true, Realtime: true},
		V4L2:      V4L2{Device: "/dev/video0"},
		Rpicam:    Rpicam{Command: "rpicam-vid", Args: []string{}},
	}
}

func (c *Camera) validate(v *validator) {
	switch c.Source {
	case "synthetic", "v4l2", "rpicam":
	case "file":
		if c.File.Path == "" {
			v.errorf("camera.file.path", "camera.source is \"file\" but camera.file.path is empty; set it to a video file ffmpeg can read")
		}
	default:
		v.errorf("camera.source", "camera.source is %q; use \"synthetic\", \"file\", \"v4l2\" or \"rpicam\"", c.Source)
	}
	if c.Width < 16 || c.Width > 7680 || c.Width%2 != 0 {
		v.errorf("camera.width", "camera.width is %d; use an even number of pixels from 16 to 7680, e.g. 1280", c.Width)
	}
	if c.Height < 16 || c.Height > 4320 || c.Height%2 != 0 {
		v.errorf("camera.height", "camera.height is %d; use an even number of pixels from 16 to 4320, e.g. 720", c.Height)
	}
	if !(c.FPS >= 1 && c.FPS <= 120) {
		v.errorf("camera.fps", "camera.fps is %g; use a frame rate from 1 to 120, e.g. 30", c.FPS)
	}
	s := c.Synthetic
	if s.Noise < 0 || s.Noise > 64 {
		v.errorf("camera.synthetic.noise", "camera.synthetic.noise is %g; use 0 (none) to 64", s.Noise)
	}
	if s.VisitorPeriod < 0 || (s.VisitorPeriod > 0 && s.VisitorPeriod < s.VisitorStay+4) {
		v.errorf("camera.synthetic.visitor_period", "camera.synthetic.visitor_period is %g; use 0 for no visitor, or at least visitor_stay + 4 seconds (%g)", s.VisitorPeriod, s.VisitorStay+4)
	}
	if s.VisitorStay < 0 {
		v.errorf("camera.synthetic.visitor_stay", "camera.synthetic.visitor_stay is %g; use 0 or more seconds", s.VisitorStay)
	}
	if s.LightingRamp < 0 {
		v.errorf("camera.synthetic.lighting_ramp", "camera.synthetic.lighting_ramp is %g; use 0 for steady light, or the seconds of one bright-dark-bright cycle", s.LightingRamp)
	}
	if c.Source == "rpicam" && c.Rpicam.Command == "" {
		v.errorf("camera.rpicam.command", "camera.rpicam.command is empty; set it to \"rpicam-vid\" or the path of the tool")
	}
	if c.Source == "v4l2" && c.V4L2.Device == "" {
		v.errorf("camera.v4l2.device", "camera.v4l2.device is empty; set it to the camera's device, e.g. \"/dev/video0\"")
	}
}

// String names the source for logs and /healthz.
func (c Camera) String() string {
	return fmt.Sprintf("%s %dx%d@%g", c.Source, c.Width, c.Height, c.FPS)
}
