package main

import (
	"compress/gzip"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"doorbell/internal/footage"
)

// vtestFile returns vtest.avi from Debian's opencv-doc, decompressed into a
// temporary directory if the package ships it gzipped.
func vtestFile(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(footage.VTestPath); err == nil {
		return footage.VTestPath
	}
	in, err := os.Open(footage.VTestPath + ".gz")
	if err != nil {
		t.Fatalf("test footage is missing: %v; install Debian's opencv-doc (make setup)", err)
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "vtest.avi")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, zr); err != nil {
		t.Fatal(err)
	}
	return out
}

type scanLine struct {
	Start  *float64     `json:"start_s"`
	End    *float64     `json:"end_s"`
	Peak   *float64     `json:"peak_fraction"`
	Boxes  [][4]float64 `json:"boxes"`
	Zones  []string     `json:"zones"`
	Events *int         `json:"events"`
	Frames int          `json:"frames"`
	Ms     *float64     `json:"ms_per_frame"`
}

func parseScan(t *testing.T, stdout string) (events []scanLine, summary scanLine) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	for i, l := range lines {
		var s scanLine
		dec := json.NewDecoder(strings.NewReader(l))
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("line %d is not JSON: %q", i+1, l)
		}
		if i == len(lines)-1 {
			return events, s
		}
		if s.Start == nil || s.End == nil || s.Peak == nil || s.Boxes == nil {
			t.Fatalf("event line %d lacks start_s, end_s, peak_fraction or boxes: %s", i+1, l)
		}
		events = append(events, s)
	}
	return events, summary
}

func TestMotionScanVtest(t *testing.T) {
	video := vtestFile(t)
	stdout, stderr, code := doorbelld(t, "motion-scan",
		"-zone", "left path=[[0,0.25],[0.3,0.25],[0.3,0.5],[0,0.5]]",
		"-zone", "[[0,0],[0.38,0],[0.38,0.08],[0,0.08]]", video)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	events, sum := parseScan(t, stdout)
	if sum.Events == nil || *sum.Events != len(events) || sum.Frames != 795 || sum.Ms == nil || *sum.Ms <= 0 {
		t.Fatalf("summary %+v after %d event lines", sum, len(events))
	}
	if len(events) < 2 {
		t.Fatalf("want events as people pass on the left path:\n%s", stdout)
	}
	for _, e := range events {
		if *e.Start < 0 || *e.End <= *e.Start || *e.End > 79.5 || *e.Peak <= 0 || *e.Peak > 1 {
			t.Errorf("implausible event %s", mustJSON(e))
		}
		// The second zone, the building's front, is where nobody walks.
		if len(e.Zones) != 1 || e.Zones[0] != "left path" {
			t.Errorf("event zones %v, want [left path]", e.Zones)
		}
		for _, b := range e.Boxes {
			if b[0] < 0 || b[2] > 0.31 || b[1] < 0.24 || b[3] > 0.51 {
				t.Errorf("box %v lies outside the left path", b)
			}
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestMotionScanTakesTheConfig(t *testing.T) {
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "doorbell.toml")
	os.WriteFile(cfgFile, []byte("[motion]\nquiet = 1.0\n\n[[motion.zone]]\nname = \"building\"\npolygon = [[0, 0], [0.38, 0], [0.38, 0.08], [0, 0.08]]\n"), 0o644)
	stdout, stderr, code := doorbelld(t, "motion-scan", "-config", cfgFile, vtestFile(t))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if events, sum := parseScan(t, stdout); len(events) != 0 || *sum.Events != 0 || sum.Frames != 795 {
		t.Errorf("the config's zone, where nobody walks, has events:\n%s", stdout)
	}
}

func TestMotionScanBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.avi")
	os.WriteFile(garbage, []byte("this is not a video\n"), 0o644)
	badConfig := filepath.Join(dir, "bad.toml")
	os.WriteFile(badConfig, []byte("[motion]\nthreshold = 20\n\n[[motion.zone]]\nname = \"bow tie\"\npolygon = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]\n"), 0o644)
	flat := filepath.Join(dir, "flat.toml")
	os.WriteFile(flat, []byte("[[motion.zone]]\nname = \"line\"\npolygon = [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]]\n"), 0o644)
	video := vtestFile(t)
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"missing video", []string{filepath.Join(dir, "nothing.mp4")}, []string{"nothing.mp4", "no such file", "check the path"}},
		{"unreadable video", []string{garbage}, []string{"garbage.avi", "cannot decode video file", "convert it with ffmpeg"}},
		{"a directory", []string{dir}, []string{"is a directory", "give a video file"}},
		{"no video", nil, []string{"give exactly one video file"}},
		{"two videos", []string{video, video}, []string{"give exactly one video file"}},
		{"self-intersecting zone", []string{"-zone", "[[0.1,0.1],[0.9,0.9],[0.9,0.1],[0.1,0.9]]", video}, []string{"-zone", "crosses itself"}},
		{"degenerate zone", []string{"-zone", "[[0.1,0.1],[0.9,0.9]]", video}, []string{"-zone", "fewer than 3"}},
		{"zero-area zone", []string{"-zone", "door=[[0.1,0.1],[0.5,0.5],[0.9,0.9]]", video}, []string{"-zone", "no area"}},
		{"zone that is not a list", []string{"-zone", "0.1,0.1 0.5,0.5", video}, []string{"-zone", "not a list of corners"}},
		{"two zones of one name", []string{"-zone", "door=[[0.1,0.1],[0.5,0.1],[0.5,0.6]]", "-zone", "door=[[0.5,0.1],[0.9,0.1],[0.9,0.6]]", video}, []string{"-zone", `"door" is used twice`}},
		{"self-intersecting zone in the config", []string{"-config", badConfig, video}, []string{"bad.toml:6:", "motion.zone[0].polygon crosses itself"}},
		{"zero-area zone in the config", []string{"-config", flat, video}, []string{"flat.toml:3:", "no area"}},
		{"missing config", []string{"-config", filepath.Join(dir, "none.toml"), video}, []string{"cannot read config file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr, code := doorbelld(t, append([]string{"motion-scan"}, c.args...)...)
			if code != 2 {
				t.Errorf("exit %d, want 2 for bad input", code)
			}
			if stdout != "" {
				t.Errorf("output on bad input: %q", stdout)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if strings.Contains(c.name, "video") && len(lines) != 1 {
				t.Errorf("want one clear error line, got %d:\n%s", len(lines), stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr does not say %q:\n%s", w, stderr)
				}
			}
		})
	}
}

func TestMotionScanDebugOut(t *testing.T) {
	// A short clip: vtest's first 20 frames.
	dir := t.TempDir()
	clip := filepath.Join(dir, "clip.avi")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-i", vtestFile(t), "-frames:v", "20",
		"-c:v", "mjpeg", "-q:v", "2", clip).CombinedOutput(); err != nil {
		t.Fatalf("cutting a clip: %v: %s", err, out)
	}

	out := filepath.Join(dir, "debug")
	stdout, stderr, code := doorbelld(t, "motion-scan", "-debug-out", out, "-zone", "path=[[0.3,0.3],[1,0.3],[1,0.8],[0.3,0.8]]", clip)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, sum := parseScan(t, stdout); sum.Frames != 20 {
		t.Errorf("summary %s", stdout)
	}
	pngs, _ := filepath.Glob(filepath.Join(out, "frame-*.png"))
	if len(pngs) < 10 {
		t.Fatalf("%d annotated frames for a clip of 20 with people walking", len(pngs))
	}
	f, err := os.Open(filepath.Join(out, "frame-000005.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pic, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := pic.Bounds(); b.Dx() != 768 || b.Dy() != 576 {
		t.Errorf("annotated frame is %v, want the video's 768x576", b)
	}
	// The zone's outline is drawn in green: its left edge is at x = 0.3.
	green := 0
	for y := 300; y < 450; y += 10 {
		r, g, b, _ := pic.At(230, y).RGBA() // x = 0.3 of 767
		if g > 0xb000 && r < 0x4000 && b < 0x4000 {
			green++
		}
	}
	if green < 12 {
		t.Errorf("only %d of 15 points on the zone's left edge are green", green)
	}

	if _, stderr, code := doorbelld(t, "motion-scan", "-debug-out", filepath.Join(clip, "sub"), clip); code != 2 || !strings.Contains(stderr, "debug directory") {
		t.Errorf("unusable debug directory: exit %d, %s", code, stderr)
	}
}
