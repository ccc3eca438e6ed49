package motion

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"doorbell/events"
	"doorbell/internal/footage"
)

var (
	vtestOnce sync.Once
	vtestFile string
	vtestErr  error
	unzipDir  string // holds a decompressed copy of the footage, removed by TestMain
)

func TestMain(m *testing.M) {
	code := m.Run()
	if unzipDir != "" {
		os.RemoveAll(unzipDir)
	}
	os.Exit(code)
}

// vtest returns the path of vtest.avi, real footage of people walking from
// Debian's opencv-doc, decompressing it first if the package ships it gzipped.
func vtest(t testing.TB) string {
	t.Helper()
	vtestOnce.Do(func() { vtestFile, vtestErr = findVtest() })
	if vtestErr != nil {
		t.Fatal(vtestErr)
	}
	return vtestFile
}

func findVtest() (string, error) {
	candidates := []string{footage.VTestPath, footage.VTestPath + ".gz"}
	if out, err := exec.Command("dpkg", "-L", "opencv-doc").Output(); err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(strings.ToLower(filepath.Base(line)), "vtest.avi") {
				candidates = append(candidates, line)
			}
		}
	}
	for _, c := range candidates {
		st, err := os.Stat(c)
		if err != nil || st.IsDir() {
			continue
		}
		if !strings.HasSuffix(c, ".gz") {
			return c, nil
		}
		return gunzip(c)
	}
	return "", errors.New("test footage vtest.avi is missing; install Debian's opencv-doc (apt-get install opencv-doc, or make setup)")
}

func gunzip(path string) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer in.Close()
	zr, err := gzip.NewReader(in)
	if err != nil {
		return "", fmt.Errorf("cannot decompress %s: %v", path, err)
	}
	if unzipDir, err = os.MkdirTemp("", "motion-footage-"); err != nil {
		return "", err
	}
	out := filepath.Join(unzipDir, "vtest.avi")
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(f, zr); err != nil {
		f.Close()
		return "", fmt.Errorf("cannot decompress %s: %v", path, err)
	}
	return out, f.Close()
}

// vtestFrame returns frame n of vtest.avi in BGR, decoded as the scan
// decodes it (ffmpeg, to I420).
func vtestFrame(t testing.TB, n int) gocv.Mat {
	t.Helper()
	v, err := OpenVideo(vtest(t))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	for i := 0; i <= n; i++ {
		if ok, err := v.Next(); !ok || err != nil {
			t.Fatalf("vtest.avi has no frame %d: %v", n, err)
		}
	}
	img, err := v.BGR()
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// writeVideo writes an MJPEG AVI of n frames at fps into a temporary
// directory, through ffmpeg; draw paints frame i into dst (BGR, w x h).
func writeVideo(t testing.TB, name string, w, h, n int, fps float64, draw func(i int, dst *gocv.Mat)) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("ffmpeg", "-v", "error", "-nostdin", "-f", "rawvideo", "-pix_fmt", "bgr24",
		"-s", fmt.Sprintf("%dx%d", w, h), "-r", fmt.Sprint(fps), "-i", "pipe:0",
		"-c:v", "mjpeg", "-q:v", "2", "-pix_fmt", "yuvj420p", path)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("cannot write test video %s: %v", path, err)
	}
	img := gocv.NewMatWithSize(h, w, gocv.MatTypeCV8UC3)
	defer img.Close()
	// OpenCV's random numbers (gocv.RandN) come from a generator per OS
	// thread, each starting from the same seed: drawn on one thread, every
	// frame gets new noise; on several, two frames can get the same.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	for i := 0; i < n; i++ {
		draw(i, &img)
		if _, err := in.Write(img.ToBytes()); err != nil {
			t.Fatalf("writing test video %s: %v: %s", path, err, stderr.String())
		}
	}
	in.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("writing test video %s: %v: %s", path, err, stderr.String())
	}
	return path
}

// scanLog is what a scan saw: its events and per-frame facts.
type scanLog struct {
	sum       ScanSummary
	events    []ScanEvent
	relearns  int
	motion    int     // frames with motion
	maxFrac   float64 // largest changed share of a zone in any frame
	frameTime []time.Duration
}

func scan(t testing.TB, path string, cfg Config) scanLog {
	t.Helper()
	var l scanLog
	var err error
	l.sum, err = Scan(path, cfg, ScanOptions{
		Event: func(e ScanEvent) { l.events = append(l.events, e) },
		Frame: func(at time.Duration, r *Result) {
			l.frameTime = append(l.frameTime, at)
			if r.Relearned {
				l.relearns++
			}
			if r.Motion {
				l.motion++
			}
			l.maxFrac = max(l.maxFrac, r.Fraction)
		},
	})
	if err != nil {
		t.Fatalf("scan of %s: %v", path, err)
	}
	return l
}

func (l scanLog) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d frames, %d events, %d motion frames, %d relearns, largest fraction %.4f",
		l.sum.Frames, len(l.events), l.motion, l.relearns, l.maxFrac)
	for _, e := range l.events {
		fmt.Fprintf(&b, "\n  event %.2f-%.2f s peak %.4f zones %v boxes %v", e.Start.Seconds(), e.End.Seconds(), e.Peak, e.Zones, e.Boxes)
	}
	return b.String()
}

// boxInside reports whether b lies within the rectangle r, give or take slack.
func boxInside(b events.Box, r [4]float64, slack float64) bool {
	return b[0] >= r[0]-slack && b[1] >= r[1]-slack && b[2] <= r[2]+slack && b[3] <= r[3]+slack
}

func rectZone(name string, x0, y0, x1, y1 float64) Zone {
	return Zone{Name: name, Polygon: [][2]float64{{x0, y0}, {x1, y0}, {x1, y1}, {x0, y1}}}
}
