package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strings"

	"doorbell/config"
	"doorbell/motion"
)

// zoneFlags collects repeated -zone flags.
type zoneFlags []motion.Zone

func (z *zoneFlags) String() string { return fmt.Sprint(len(*z), " zones") }

// Set parses [NAME=][[x,y],[x,y],[x,y],...], corners normalised to 0..1.
func (z *zoneFlags) Set(s string) error {
	name := fmt.Sprintf("zone%d", len(*z)+1)
	poly := s
	if i := strings.Index(s, "="); i >= 0 {
		name, poly = strings.TrimSpace(s[:i]), s[i+1:]
		if name == "" {
			return errors.New("the name before = is empty; write NAME=[[x,y],...] or leave out NAME=")
		}
	}
	for _, other := range *z {
		if other.Name == name {
			return fmt.Errorf("the zone name %q is used twice; give each zone its own name, as NAME=[[x,y],...]", name)
		}
	}
	var corners [][]float64
	if err := json.Unmarshal([]byte(poly), &corners); err != nil {
		return fmt.Errorf("%q is not a list of corners; write it as [[0.1,0.1],[0.5,0.1],[0.5,0.6]], optionally after NAME=", poly)
	}
	if msg := config.PolygonProblem(corners); msg != "" {
		return fmt.Errorf("the polygon %s", msg)
	}
	zone := motion.Zone{Name: name}
	for _, c := range corners {
		zone.Polygon = append(zone.Polygon, [2]float64{c[0], c[1]})
	}
	*z = append(*z, zone)
	return nil
}

type scanEventLine struct {
	Start float64      `json:"start_s"`
	End   float64      `json:"end_s"`
	Peak  float64      `json:"peak_fraction"`
	Boxes [][4]float64 `json:"boxes"`
	Zones []string     `json:"zones"`
}

type scanSummaryLine struct {
	Events     int     `json:"events"`
	Frames     int     `json:"frames"`
	MsPerFrame float64 `json:"ms_per_frame"` // detector time per frame
	FPS        float64 `json:"fps"`          // frames scanned per second, decoding included
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// runMotionScan is `doorbelld motion-scan`: the owner's tuning tool. It runs
// the daemon's detector and state machine over a video file, faster than
// real time, and prints one JSON line per event and a summary line.
// Exit status: 0 done, 2 bad input, 1 anything else.
func runMotionScan(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doorbelld motion-scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "take [motion] settings, zones and privacy masks from config `FILE` (default: the built-in defaults)")
	var zones zoneFlags
	fs.Var(&zones, "zone", "watch this `POLYGON`, [NAME=][[x,y],[x,y],[x,y],...] with corners 0..1; repeat for more zones; replaces the config's zones")
	debugOut := fs.String("debug-out", "", "write annotated PNG frames (zones, masks, changed pixels, boxes) into `DIR`")
	usage := func() {
		fmt.Fprintf(stderr, "Usage:\n  doorbelld motion-scan [-config FILE] [-zone POLYGON]... [-debug-out DIR] VIDEO\n\n"+
			"Runs motion detection over VIDEO as fast as it decodes and prints one JSON line\n"+
			"per event, then a summary line. Use it to tune [motion] and the zones.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	// A mistake gets one line (the flag package's) and a pointer to -h, not the whole usage.
	fs.Usage = func() {}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage()
			return 0
		}
		fmt.Fprintln(stderr, "see doorbelld motion-scan -h")
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "doorbelld motion-scan: give exactly one video file, not %d arguments; see doorbelld motion-scan -h\n", fs.NArg())
		return 2
	}
	video := fs.Arg(0)

	cfg := config.Defaults()
	if *configPath != "" {
		var err error
		if cfg, err = config.Load(*configPath); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
	}
	mcfg := motion.FromConfig(cfg.Motion, cfg.PrivacyMask)
	if len(zones) > 0 {
		mcfg.Zones = zones
	}

	enc := json.NewEncoder(stdout)
	var writeErr error
	sum, err := motion.Scan(video, mcfg, motion.ScanOptions{
		DebugDir: *debugOut,
		Event: func(e motion.ScanEvent) {
			line := scanEventLine{Start: round(e.Start.Seconds(), 3), End: round(e.End.Seconds(), 3),
				Peak: round(e.Peak, 4), Boxes: [][4]float64{}, Zones: e.Zones}
			for _, b := range e.Boxes {
				line.Boxes = append(line.Boxes, [4]float64{round(b[0], 3), round(b[1], 3), round(b[2], 3), round(b[3], 3)})
			}
			if err := enc.Encode(line); err != nil && writeErr == nil {
				writeErr = err
			}
		},
	})
	if err != nil {
		fmt.Fprintf(stderr, "doorbelld motion-scan: %v\n", err)
		var in *motion.InputError
		if errors.As(err, &in) {
			return 2
		}
		return 1
	}
	line := scanSummaryLine{Events: sum.Events, Frames: sum.Frames}
	if sum.Frames > 0 {
		line.MsPerFrame = round(sum.Detect.Seconds()*1000/float64(sum.Frames), 3)
	}
	if sum.Wall > 0 {
		line.FPS = round(float64(sum.Frames)/sum.Wall.Seconds(), 1)
	}
	if err := enc.Encode(line); err != nil || writeErr != nil {
		fmt.Fprintf(stderr, "doorbelld motion-scan: cannot write the results: %v\n", errors.Join(writeErr, err))
		return 1
	}
	return 0
}
