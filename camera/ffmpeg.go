package camera

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// FileConfig plays a video file as a camera.
type FileConfig struct {
	Command       string // the ffmpeg executable; "" means "ffmpeg" on $PATH
	Path          string
	Width, Height int  // frames are scaled to this size; 0 and 0: the file's own, cut to even
	Loop          bool // start again at the end
	Realtime      bool // pace at the file's frame rate; false: as fast as it decodes
	// LumaOnly decodes only the Y plane (the U and V planes read as
	// neutral grey): a third less to copy, for a reader that needs no
	// colour, such as motion detection.
	LumaOnly bool
	// EvenRows, with LumaOnly, decodes only rows 0, 2, 4, … of the Y
	// plane, which ffmpeg picks by stride, not by copying: half the bytes
	// again, for a detector that reads no more (motion.Detector.EvenRows).
	// Read those with ReadLuma; Height stays the picture's own.
	EvenRows bool
}

// V4L2Config opens a V4L2 device such as a USB webcam.
type V4L2Config struct {
	Command       string // the ffmpeg executable; "" means "ffmpeg" on $PATH
	Device        string // e.g. /dev/video0
	Width, Height int
	FPS           float64
}

// Decoded is a video decoded by an ffmpeg subprocess straight to I420,
// read as a YUV4MPEG2 stream from its standard output: no BGR picture and
// no colour conversion on the way, as with the rpicam source. The stream
// is at a constant frame rate (ffmpeg repeats or drops frames of a file
// with a variable one), so frame n is at n / FPS.
type Decoded struct {
	cmd    *exec.Cmd
	pipe   *os.File
	out    *bufio.Reader
	stderr *tailBuffer
	name   string
	device bool // a camera, not a file
	loop   bool
	mono   bool // only the Y plane comes
	halved bool // and only its even rows
	seq    uint64

	Width, Height int
	FPS           float64
}

// OpenFile starts decoding a video file.
func OpenFile(ctx context.Context, cfg FileConfig) (*Decoded, error) {
	native := cfg.Width == 0 && cfg.Height == 0
	if !native {
		if err := CheckSize(cfg.Width, cfg.Height); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("cannot open video file: %w; check camera.file.path", err)
	}
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin"}
	if cfg.Realtime {
		args = append(args, "-re")
	}
	if cfg.Loop {
		args = append(args, "-stream_loop", "-1")
	}
	out := colour
	switch {
	case cfg.EvenRows && !cfg.LumaOnly:
		return nil, errors.New("camera: EvenRows needs LumaOnly: a colour frame has every row")
	case cfg.EvenRows:
		out = lumaEvenRows
	case cfg.LumaOnly:
		out = luma
	}
	args = append(args, "-i", cfg.Path)
	d, err := startDecoder(ctx, cfg.Command, args, cfg.Width, cfg.Height, out, cfg.Path)
	if err != nil {
		return nil, fmt.Errorf("cannot decode video file %s: %w; check that it plays, or convert it with ffmpeg to MP4 (H.264)", cfg.Path, err)
	}
	d.loop = cfg.Loop
	return d, nil
}

// V4L2Args is the ffmpeg input for a V4L2 device.
func V4L2Args(cfg V4L2Config) []string {
	return []string{"-hide_banner", "-loglevel", "error", "-nostdin",
		"-f", "v4l2", "-framerate", strconv.FormatFloat(cfg.FPS, 'f', -1, 64),
		"-video_size", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height), "-i", cfg.Device}
}

// OpenV4L2 opens a V4L2 camera at the configured size and rate; a device
// that offers another size is scaled to it. The device paces itself.
func OpenV4L2(ctx context.Context, cfg V4L2Config, log *slog.Logger) (*Decoded, error) {
	if err := CheckSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.Device); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("camera device %s does not exist; connect the camera, or set camera.v4l2.device (see ls /dev/video*)", cfg.Device)
		}
		return nil, fmt.Errorf("cannot use camera device %s: %w; add the doorbell user to the video group", cfg.Device, err)
	}
	d, err := startDecoder(ctx, cfg.Command, V4L2Args(cfg), cfg.Width, cfg.Height, colour, cfg.Device)
	if err != nil {
		return nil, fmt.Errorf("cannot open camera device %s: %w; stop other programs using it, or choose another /dev/videoN", cfg.Device, err)
	}
	d.device = true
	log.Info("camera device opened", "device", cfg.Device, "size", fmt.Sprintf("%dx%d", d.Width, d.Height), "fps", d.FPS)
	return d, nil
}

// F_SETPIPE_SZ (Linux); the kernel caps the size at
// /proc/sys/fs/pipe-max-size (1 MiB by default) and may refuse it, which
// only costs speed.
const (
	fSetPipeSize = 1031
	pipeSize     = 1 << 20
)

// output is what a decoder pipes over.
type output int

const (
	colour       output = iota // I420
	luma                       // the Y plane
	lumaEvenRows               // the Y plane's rows 0, 2, 4, …
)

// startDecoder runs ffmpeg with the input args and reads the stream header.
// w and h 0: the input's size, cut to even numbers as I420 needs.
func startDecoder(ctx context.Context, command string, input []string, w, h int, out output, name string) (*Decoded, error) {
	if command == "" {
		command = "ffmpeg"
	}
	filter := "crop=trunc(iw/2)*2:trunc(ih/2)*2"
	if w > 0 {
		filter = fmt.Sprintf("scale=%d:%d:flags=area", w, h)
	}
	format := "yuv420p"
	switch out {
	case luma:
		filter, format = "format=yuv420p,"+filter+",extractplanes=y", "gray" // a plane copied, not converted
	case lumaEvenRows:
		// field=top doubles each plane's stride, so the copy of the Y
		// plane that follows takes every other row.
		filter, format = "format=yuv420p,"+filter+",field=top,extractplanes=y", "gray"
	}
	args := append(input, "-map", "0:v:0", "-an", "-sn", "-dn", "-vf", filter,
		"-pix_fmt", format, "-f", "yuv4mpegpipe", "pipe:1")
	cmd := exec.CommandContext(ctx, command, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = time.Second
	tail := &tailBuffer{max: 2048}
	cmd.Stderr = tail
	stdout, pw, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	// A pipe that holds a whole frame or more: a 64 KiB one would wake
	// both processes a dozen times for each 720p frame.
	_, _, _ = syscall.Syscall(syscall.SYS_FCNTL, stdout.Fd(), fSetPipeSize, pipeSize)
	cmd.Stdout = pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		stdout.Close()
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%q not found (install ffmpeg: apt-get install ffmpeg)", command)
		}
		return nil, err
	}
	d := &Decoded{cmd: cmd, pipe: stdout, out: bufio.NewReaderSize(stdout, 4096), stderr: tail, name: name, halved: out == lumaEvenRows}
	if err := d.readHeader(); err != nil {
		_ = d.Close()
		if msg := tail.lastLine(); msg != "" {
			return nil, fmt.Errorf("ffmpeg said %q", msg)
		}
		return nil, err
	}
	return d, nil
}

// readHeader parses "YUV4MPEG2 W768 H576 F10:1 Ip A1:1 C420jpeg ...".
func (d *Decoded) readHeader() error {
	line, err := d.out.ReadString('\n')
	if err != nil {
		return fmt.Errorf("no video came out (%v)", err)
	}
	fields := strings.Fields(line)
	if len(fields) == 0 || fields[0] != "YUV4MPEG2" {
		return fmt.Errorf("ffmpeg's output is not YUV4MPEG2: %.40q", line)
	}
	for _, f := range fields[1:] {
		switch f[0] {
		case 'W':
			d.Width, _ = strconv.Atoi(f[1:])
		case 'H':
			d.Height, _ = strconv.Atoi(f[1:])
		case 'F':
			num, den, _ := strings.Cut(f[1:], ":")
			n, _ := strconv.ParseFloat(num, 64)
			m, _ := strconv.ParseFloat(den, 64)
			if m > 0 {
				d.FPS = n / m
			}
		case 'C':
			switch {
			case strings.HasPrefix(f[1:], "420"):
			case f[1:] == "mono":
				d.mono = true
			default:
				return fmt.Errorf("ffmpeg's output is %s, not I420", f[1:])
			}
		}
	}
	if d.halved {
		d.Height *= 2 // the picture's own, cut to even before its odd rows were dropped
	}
	if CheckSize(d.Width, d.Height) != nil {
		return fmt.Errorf("the video's frames are %dx%d, too small or too large", d.Width, d.Height)
	}
	if !(d.FPS > 0 && d.FPS <= 1000) {
		d.FPS = 25 // no usable rate: a common one
	}
	return nil
}

// Read reads the next frame. At the end of a file that does not loop the
// error is io.EOF (errors.Is), and says what to do, as it does when a
// camera stops.
func (d *Decoded) Read(ctx context.Context, f *Frame) error {
	if d.halved {
		return fmt.Errorf("%s is decoded as the even rows of its Y plane, not as frames; read it with ReadLuma", d.name)
	}
	f.Resize(d.Width, d.Height)
	buf := f.Data
	if d.mono {
		buf = f.Y()
		fillGrey(f.Data[len(buf):])
	}
	if err := d.read(ctx, buf); err != nil {
		return err
	}
	f.Captured = time.Now()
	f.Seq = d.seq
	d.seq++
	return nil
}

// ReadLuma reads the next frame's Y plane into y, Width*Height bytes (with
// EvenRows, its even rows, Width*(Height/2) bytes), for a decoder opened
// LumaOnly: straight from the pipe into y, with no frame between and no
// chroma to fill in (motion-scan reads into the detector's own picture).
// Errors are Read's.
func (d *Decoded) ReadLuma(ctx context.Context, y []byte) error {
	if !d.mono {
		return fmt.Errorf("%s is decoded in colour; open it LumaOnly to read the Y plane alone", d.name)
	}
	if rows := d.LumaRows(); len(y) != d.Width*rows {
		return fmt.Errorf("a %d-byte buffer cannot hold the %dx%d Y plane of %s", len(y), d.Width, rows, d.name)
	}
	if err := d.read(ctx, y); err != nil {
		return err
	}
	d.seq++
	return nil
}

// LumaRows is how many rows of the Y plane ReadLuma reads: Height, or with
// EvenRows, Height/2.
func (d *Decoded) LumaRows() int {
	if d.halved {
		return d.Height / 2
	}
	return d.Height
}

// read reads the next frame's bytes into buf and says in words why none came.
func (d *Decoded) read(ctx context.Context, buf []byte) error {
	err := d.next(buf)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		werr := d.cmd.Wait()
		msg := d.stderr.lastLine()
		switch {
		case d.device:
			if msg == "" {
				msg = fmt.Sprint(werr)
			}
			return fmt.Errorf("camera device %s gives no frames (ffmpeg: %s); check its cable, and that no other program uses it", d.name, msg)
		case msg != "":
			return fmt.Errorf("%s stopped decoding: ffmpeg said %q; check that the file plays", d.name, msg)
		case errors.Is(err, io.EOF) && !d.loop:
			return &endError{d.name}
		default:
			return fmt.Errorf("%s stopped decoding: %v", d.name, err)
		}
	}
	return nil
}

// fillGrey sets b to 128, neutral chroma, at memmove's speed (a byte loop
// showed in profiles of motion-scan: it runs for every frame).
func fillGrey(b []byte) {
	if len(b) == 0 {
		return
	}
	b[0] = 128
	for n := 1; n < len(b); n *= 2 {
		copy(b[n:], b[:n])
	}
}

// endError is the end of a file that does not loop. It is io.EOF.
type endError struct{ name string }

func (e *endError) Error() string {
	return e.name + " ended; set camera.file.loop = true to play it again and again"
}
func (e *endError) Is(target error) bool { return target == io.EOF }

// next reads one "FRAME" line and the picture after it into buf.
func (d *Decoded) next(buf []byte) error {
	line, err := d.out.ReadSlice('\n')
	if err != nil {
		if len(line) == 0 && errors.Is(err, io.EOF) {
			return io.EOF
		}
		return fmt.Errorf("a frame was cut off: %w", err)
	}
	if !bytes.HasPrefix(line, []byte("FRAME")) {
		return fmt.Errorf("ffmpeg's output lost its frame markers: %.20q", line)
	}
	if _, err := io.ReadFull(d.out, buf); err != nil {
		return fmt.Errorf("a frame was cut off: %w", err)
	}
	return nil
}

// Close stops ffmpeg.
func (d *Decoded) Close() error {
	if d.cmd.Process != nil {
		_ = d.cmd.Process.Kill()
	}
	_ = d.cmd.Wait()
	return d.pipe.Close()
}
