package motion

import (
	"fmt"
	"math"
	"time"

	"doorbell/camera"
	"doorbell/config"
)

// Config is the detector's and the state machine's setup. FromConfig makes
// one from the daemon's configuration; DefaultConfig has the defaults.
type Config struct {
	Width          int           // processing width in pixels (frames are scaled down to it)
	Blur           int           // Gaussian kernel size at Width, odd; 1: none
	Threshold      int           // brightness change (levels) that marks a pixel changed
	MinArea        float64       // share of a zone that must change for motion
	LearnTime      time.Duration // time constant of the background for the still picture
	AbsorbTime     time.Duration // time constant for changed pixels: what stops becomes background
	LightChange    float64       // share of the picture changing at once that means a lighting change
	BrightnessJump float64       // relative jump of mean brightness that means a lighting change
	StartFrames    int           // consecutive motion frames that start an event
	Quiet          time.Duration // time without motion that ends an event
	MaxEvent       time.Duration // longest event
	Cooldown       time.Duration // no new event this soon after one ended

	Zones []Zone         // where motion counts; none: the whole picture
	Masks [][][2]float64 // privacy masks (polygons normalised 0..1): never counted
}

// Zone is a named polygon, corners normalised to 0..1.
type Zone struct {
	Name    string
	Polygon [][2]float64
}

// WholePicture is the name of the zone used when none is configured.
const WholePicture = "all"

// DefaultConfig is the configuration's defaults: the whole picture is the zone.
func DefaultConfig() Config {
	return FromConfig(config.Defaults().Motion, nil)
}

// FromConfig turns the [motion] section and the privacy masks into a Config.
func FromConfig(m config.Motion, privacy []config.Region) Config {
	c := Config{
		Width:          m.Width,
		Blur:           m.Blur,
		Threshold:      m.Threshold,
		MinArea:        m.MinArea,
		LearnTime:      seconds(m.LearnTime),
		AbsorbTime:     seconds(m.AbsorbTime),
		LightChange:    m.LightChange,
		BrightnessJump: m.BrightnessJump,
		StartFrames:    m.StartFrames,
		Quiet:          seconds(m.Quiet),
		MaxEvent:       seconds(m.MaxEvent),
		Cooldown:       seconds(m.Cooldown),
	}
	for _, z := range m.Zone {
		c.Zones = append(c.Zones, Zone{Name: z.Name, Polygon: z.Points()})
	}
	for _, p := range privacy {
		c.Masks = append(c.Masks, p.Points())
	}
	return c
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// zones returns the configured zones, or the whole picture.
func (c *Config) zones() []Zone {
	if len(c.Zones) > 0 {
		return c.Zones
	}
	return []Zone{{Name: WholePicture, Polygon: [][2]float64{{0, 0}, {1, 0}, {1, 1}, {0, 1}}}}
}

// ZoneNames lists the zones' names in the order results report them.
func (c *Config) ZoneNames() []string {
	zs := c.zones()
	names := make([]string, len(zs))
	for i, z := range zs {
		names[i] = z.Name
	}
	return names
}

// check catches settings the detector cannot work with. The config package
// explains the same mistakes with file and line; this guards direct callers.
func (c *Config) check() error {
	bad := func(what string, v any, fix string) error {
		return fmt.Errorf("motion: %s is %v; %s", what, v, fix)
	}
	switch {
	case c.Width < 8:
		return bad("the processing width", c.Width, "use at least 8 pixels, e.g. 320")
	case c.Blur < 1 || c.Blur%2 == 0:
		return bad("the blur kernel", c.Blur, "use an odd size, 1 for none")
	case c.Threshold < 1 || c.Threshold > 254:
		return bad("the threshold", c.Threshold, "use 1 to 254 levels")
	case !(c.MinArea > 0 && c.MinArea <= 1):
		return bad("the minimum area", c.MinArea, "use a share of the zone in (0, 1]")
	case c.LearnTime <= 0 || c.AbsorbTime <= 0:
		return bad("the learn or absorb time", fmt.Sprint(c.LearnTime, " ", c.AbsorbTime), "use positive durations")
	case !(c.LightChange > 0 && c.LightChange <= 1):
		return bad("the light-change share", c.LightChange, "use a share of the picture in (0, 1]")
	case !(c.BrightnessJump > 0) || math.IsInf(c.BrightnessJump, 0):
		return bad("the brightness jump", c.BrightnessJump, "use a positive relative change, e.g. 0.25")
	case c.StartFrames < 1:
		return bad("start frames", c.StartFrames, "use at least 1")
	case c.Quiet <= 0 || c.MaxEvent <= 0 || c.Cooldown < 0:
		return bad("quiet, max event or cooldown", fmt.Sprint(c.Quiet, " ", c.MaxEvent, " ", c.Cooldown), "use positive durations (cooldown may be 0)")
	case len(c.Zones) > 64:
		return bad("the number of zones", len(c.Zones), "use at most 64")
	}
	for _, z := range c.Zones {
		if msg := config.PolygonProblem(pairs(z.Polygon)); msg != "" {
			return fmt.Errorf("motion: zone %q %s", z.Name, msg)
		}
	}
	return nil
}

func pairs(pts [][2]float64) [][]float64 {
	out := make([][]float64, len(pts))
	for i, p := range pts {
		out[i] = []float64{p[0], p[1]}
	}
	return out
}

// TimeStripMask covers the time strip that the synthetic camera draws along
// the top of w x h frames. Its blocks change every frame, so when watching
// that camera it goes into Masks, with a margin for the blur.
func TimeStripMask(w, h int) [][2]float64 {
	_, strip := camera.StampGeometry(w, h)
	y := min(float64(strip)*1.5/float64(h), 1)
	return [][2]float64{{0, 0}, {1, 0}, {1, y}, {0, y}}
}
