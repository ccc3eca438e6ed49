package camera

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// RpicamConfig runs the Raspberry Pi camera tool (libcamera) and reads raw
// I420 frames from its standard output.
type RpicamConfig struct {
	Command       string // "rpicam-vid" or a path to it
	Args          []string
	Width, Height int
	FPS           float64
}

type rpicam struct {
	cmd    *exec.Cmd
	stdout io.ReadCloser
	stderr *tailBuffer
	waited chan error
	seq    uint64
	w, h   int
}

// OpenRpicam starts the tool. It ends when ctx ends or Close is called.
func OpenRpicam(ctx context.Context, cfg RpicamConfig) (Source, error) {
	if err := CheckSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	args := []string{"-t", "0", "-n", "--codec", "yuv420",
		"--width", strconv.Itoa(cfg.Width), "--height", strconv.Itoa(cfg.Height),
		"--framerate", strconv.FormatFloat(cfg.FPS, 'f', -1, 64)}
	args = append(args, cfg.Args...)
	args = append(args, "-o", "-")
	cmd := exec.CommandContext(ctx, cfg.Command, args...)
	cmd.WaitDelay = time.Second
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	tail := &tailBuffer{max: 2048}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return nil, fmt.Errorf("cannot run %s: not found; install rpicam-apps (apt install rpicam-apps) or set camera.rpicam.command to its path", cfg.Command)
		}
		return nil, fmt.Errorf("cannot run %s: %w; check camera.rpicam.command", cfg.Command, err)
	}
	r := &rpicam{cmd: cmd, stdout: stdout, stderr: tail, waited: make(chan error, 1), w: cfg.Width, h: cfg.Height}
	return r, nil
}

// Read reads one whole frame. A short read means the tool died.
func (r *rpicam) Read(ctx context.Context, f *Frame) error {
	f.Resize(r.w, r.h)
	if _, err := io.ReadFull(r.stdout, f.Data); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		werr := r.cmd.Wait()
		msg := r.stderr.lastLine()
		if msg == "" && werr != nil {
			msg = werr.Error()
		}
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s stopped sending frames: %s; check the camera cable and that no other program uses the camera", r.cmd.Path, msg)
	}
	f.Captured = time.Now()
	f.Seq = r.seq
	r.seq++
	return nil
}

// Close stops the tool.
func (r *rpicam) Close() error {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
	}
	_ = r.cmd.Wait()
	return nil
}

// tailBuffer keeps the end of a process's error output, for error messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = t.buf[len(t.buf)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) lastLine() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(bytes.ToValidUTF8(t.buf, nil))), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
