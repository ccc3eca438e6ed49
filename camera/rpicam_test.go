package camera

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for rpicam-vid: a script named
// rpicam-vid on PATH runs it with FAKE_RPICAM set.
func TestMain(m *testing.M) {
	if mode := os.Getenv("FAKE_RPICAM"); mode != "" {
		os.Exit(fakeRpicam(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeRpicam writes I420 frames whose every byte is the frame number, as
// rpicam-vid --codec yuv420 -o - would, then does what mode says.
func fakeRpicam(mode string, args []string) int {
	opts := map[string]string{}
	for i := 0; i+1 < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			opts[args[i]] = args[i+1]
		}
	}
	if opts["--codec"] != "yuv420" || opts["-o"] != "-" || opts["-t"] != "0" {
		fmt.Fprintf(os.Stderr, "ERROR: fake rpicam-vid got unexpected arguments %q\n", args)
		return 1
	}
	w, _ := strconv.Atoi(opts["--width"])
	h, _ := strconv.Atoi(opts["--height"])
	frame := make([]byte, I420Size(w, h))
	for n := 0; ; n++ {
		if mode == "die" && n == 3 {
			fmt.Fprintln(os.Stderr, "[0:00:01] INFO starting")
			fmt.Fprintln(os.Stderr, "ERROR: *** failed to acquire camera /base/soc/i2c0mux/i2c@1/imx708@1a ***")
			return 1
		}
		if mode == "stall" && n == 3 {
			time.Sleep(time.Hour)
		}
		for i := range frame {
			frame[i] = byte(n)
		}
		if _, err := os.Stdout.Write(frame); err != nil {
			return 0
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeOnPath puts a rpicam-vid on PATH that runs this test binary in mode.
func fakeOnPath(t *testing.T, mode string) {
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\nFAKE_RPICAM=%s exec %q \"$@\"\n", mode, self)
	if err := os.WriteFile(filepath.Join(dir, "rpicam-vid"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func TestRpicamReadsWholeFrames(t *testing.T) {
	fakeOnPath(t, "run")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src, err := OpenRpicam(ctx, RpicamConfig{Command: "rpicam-vid", Width: 64, Height: 48, FPS: 30, Args: []string{"--hflip"}})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f := &Frame{}
	for n := 0; n < 5; n++ {
		if err := src.Read(ctx, f); err != nil {
			t.Fatal(err)
		}
		if f.Width != 64 || f.Height != 48 || f.Seq != uint64(n) || f.Captured.IsZero() {
			t.Fatalf("frame %d: %dx%d seq %d captured %v", n, f.Width, f.Height, f.Seq, f.Captured)
		}
		for _, b := range f.Data {
			if b != byte(n) {
				t.Fatalf("frame %d holds bytes of frame %d: frames are misaligned", n, b)
			}
		}
	}
}

func TestRpicamDeathSaysWhy(t *testing.T) {
	fakeOnPath(t, "die")
	ctx := context.Background()
	src, err := OpenRpicam(ctx, RpicamConfig{Command: "rpicam-vid", Width: 32, Height: 32, FPS: 30})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f := &Frame{}
	for {
		if err = src.Read(ctx, f); err != nil {
			break
		}
	}
	if !strings.Contains(err.Error(), "failed to acquire camera") {
		t.Fatalf("error does not pass on rpicam-vid's reason: %v", err)
	}
}

func TestRpicamMissingTool(t *testing.T) {
	_, err := OpenRpicam(context.Background(), RpicamConfig{Command: "no-such-rpicam-vid", Width: 32, Height: 32, FPS: 30})
	if err == nil || !strings.Contains(err.Error(), "install rpicam-apps") {
		t.Fatalf("got %v", err)
	}
}

func TestRpicamStallIsRestartedBySupervisor(t *testing.T) {
	fakeOnPath(t, "stall")
	open := func(ctx context.Context) (Source, error) {
		return OpenRpicam(ctx, RpicamConfig{Command: "rpicam-vid", Width: 32, Height: 32, FPS: 30})
	}
	rec := &recorder{}
	s := fastSupervisor(open, rec, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	waitFor(t, "frames from a restarted rpicam-vid", func() bool { return rec.frames() >= 7 })
	cancel()
	<-done
	if st := s.Status(); st.Restarts < 2 {
		t.Errorf("a stalling rpicam-vid was restarted %d times", st.Restarts)
	}
}
