package motion

import (
	"context"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"time"

	"gocv.io/x/gocv"

	"doorbell/camera"
	"doorbell/events"
)

// ScanEvent is one event found in a video, timed from the video's start.
type ScanEvent struct {
	ID    uint64
	Start time.Duration
	End   time.Duration
	Peak  float64      // largest changed share of a zone
	Zones []string     // zones that saw motion
	Boxes []events.Box // changed regions in the frame of the peak
}

// ScanOptions are the extras of Scan.
type ScanOptions struct {
	// DebugDir, if set, receives annotated PNG frames: zones, privacy masks,
	// changed pixels and boxes, for every frame where something changed.
	DebugDir string
	// Event, if set, is called as each event ends.
	Event func(ScanEvent)
	// Frame, if set, sees each frame's timestamp and result.
	Frame func(at time.Duration, r *Result)
}

// ScanSummary tells how a scan went.
type ScanSummary struct {
	Events        int
	Frames        int
	Width, Height int
	Length        time.Duration // video time of the last frame
	Detect        time.Duration // time spent in the detector, all frames
	Wall          time.Duration // time the whole scan took, decoding included
}

// InputError is a scan that failed because of what it was given: a missing
// or unreadable video, a bad configuration, an unusable debug directory.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

func inputErrorf(format string, args ...any) error {
	return &InputError{fmt.Errorf(format, args...)}
}

// Scan runs the detector and the state machine over a video file as fast as
// it decodes, on the file's own timestamps, as the daemon would on the
// camera: the frame goes to I420, the privacy masks black it out, and the
// detector sees its Y plane.
func Scan(path string, cfg Config, opt ScanOptions) (ScanSummary, error) {
	began := time.Now()
	var sum ScanSummary
	// Luma only (debug frames are drawn in colour), the frames are read
	// straight into the detector's own picture: no copy of each frame, no
	// chroma, and only the rows the detector reads.
	luma := opt.DebugDir == ""
	v, err := openVideo(path, luma, cfg.Width)
	if err != nil {
		return sum, err
	}
	defer v.Close()
	sum.Width, sum.Height = v.dec.Width, v.dec.Height

	mask, err := camera.NewMask(sum.Width, sum.Height, cfg.Masks)
	if err != nil {
		return sum, &InputError{err}
	}
	det, err := NewDetector(cfg, sum.Width, sum.Height)
	if err != nil {
		return sum, &InputError{err}
	}
	defer det.Close()
	y := det.Input()
	if luma && det.EvenRows() {
		mask = mask.EvenRows() // for the rows the decoder gives
	}
	ok, err := v.next(luma, y)
	if err != nil {
		return sum, err
	}
	if !ok {
		return sum, inputErrorf("cannot read video %s: it has no frames ffmpeg can decode; check that it plays, or convert it with ffmpeg to MP4 (H.264)", path)
	}
	if opt.DebugDir != "" {
		if err := os.MkdirAll(opt.DebugDir, 0o755); err != nil {
			return sum, inputErrorf("cannot make the debug directory: %v; give -debug-out a directory you can write to", err)
		}
	}

	// Frame times are offsets from a zero epoch, so event times read as
	// seconds into the video.
	var epoch time.Time
	starts := map[uint64]time.Duration{}
	var writeErr error
	m := NewMachine(cfg, det.ZoneNames(), func(e events.Event) {
		switch e.Kind {
		case events.MotionStart:
			starts[e.ID] = e.Time.Sub(epoch)
		case events.MotionEnd:
			sum.Events++
			if opt.Event != nil {
				opt.Event(ScanEvent{ID: e.ID, Start: starts[e.ID], End: e.Time.Sub(epoch),
					Peak: e.Peak, Zones: e.Zones, Boxes: e.Boxes})
			}
			delete(starts, e.ID)
		}
	})

	for ; ok; ok, err = v.next(luma, y) {
		at := epoch.Add(v.Time)
		before, _ := m.State()
		var r *Result
		if luma {
			mask.ApplyY(y)
			r = det.DetectInput(at)
		} else {
			mask.Apply(&v.Frame)
			if r, err = det.Detect(v.Frame.Y(), at); err != nil {
				return sum, err
			}
		}
		m.Update(at, r)
		if opt.Frame != nil {
			opt.Frame(v.Time, r)
		}
		sum.Frames++
		sum.Detect += r.Took
		sum.Length = v.Time
		if opt.DebugDir != "" && writeErr == nil {
			after, _ := m.State()
			if sum.Frames == 1 || r.Fraction > 0 || r.Relearned || after != before {
				writeErr = writeDebug(opt.DebugDir, det, v, r, after, sum.Frames-1)
			}
		}
	}
	if err != nil {
		return sum, err
	}
	m.Flush(epoch.Add(sum.Length))
	sum.Wall = time.Since(began)
	if writeErr != nil {
		return sum, fmt.Errorf("cannot write debug frames: %w; check the space and permissions of %s", writeErr, opt.DebugDir)
	}
	return sum, nil
}

func writeDebug(dir string, det *Detector, v *Video, r *Result, s State, n int) error {
	img, err := v.BGR()
	if err != nil {
		return err
	}
	defer img.Close()
	det.Annotate(&img, r, fmt.Sprintf("%.2fs %s changed %.3f", v.Time.Seconds(), s, r.Fraction))
	// Go's PNG encoder, not OpenCV's imgcodecs: that module alone maps tens
	// of MiB of image libraries into every doorbelld.
	pic, err := img.ToImage()
	if err != nil {
		return err
	}
	name := filepath.Join(dir, fmt.Sprintf("frame-%06d.png", n))
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(f, pic); err != nil {
		f.Close()
		return fmt.Errorf("encoding %s: %w", name, err)
	}
	return f.Close()
}

// Video reads a video file as I420 frames with their timestamps, decoded
// by an ffmpeg subprocess straight to I420 (camera.OpenFile): the decoder's
// own YUV, with no BGR picture and no colour conversion in between.
type Video struct {
	Frame camera.Frame  // the current frame, I420
	Time  time.Duration // its time in the file
	dec   *camera.Decoded
	n     int
	path  string
}

// OpenVideo opens a video file. Errors are InputErrors that say what to do.
func OpenVideo(path string) (*Video, error) { return openVideo(path, false, 0) }

// openVideo opens a video file, in colour or, for a detector that needs only
// the Y plane, luma only: then, if a detector at the processing width reads
// only the even rows of its pictures, those alone. The size is known only
// from the decoder's first words, so a picture too small to spare rows is
// opened again with all of them.
func openVideo(path string, lumaOnly bool, width int) (*Video, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, inputErrorf("cannot read video: %v; check the path", err)
	}
	if st.IsDir() {
		return nil, inputErrorf("cannot read video %s: it is a directory; give a video file", path)
	}
	cfg := camera.FileConfig{Path: path, LumaOnly: lumaOnly, EvenRows: lumaOnly}
	dec, err := camera.OpenFile(context.Background(), cfg)
	if err == nil && cfg.EvenRows && !readsEvenRows(dec.Width, dec.Height, width) {
		dec.Close()
		cfg.EvenRows = false
		dec, err = camera.OpenFile(context.Background(), cfg)
	}
	if err != nil {
		return nil, &InputError{err}
	}
	return &Video{dec: dec, path: path}, nil
}

// Next reads the next frame into v.Frame and v.Time; false at the end.
// Frames come at the file's frame rate (ffmpeg evens out a variable one),
// so frame n is at n / rate.
func (v *Video) Next() (bool, error) {
	if err := v.dec.Read(context.Background(), &v.Frame); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, &InputError{err}
	}
	v.advance()
	return true, nil
}

// next is Next, or with luma, NextLuma into y.
func (v *Video) next(luma bool, y []byte) (bool, error) {
	if luma {
		return v.NextLuma(y)
	}
	return v.Next()
}

// NextLuma reads the next frame's Y plane into y (w*h bytes, or of its even
// rows, w*(h/2), if a detector reads only those) and its time into v.Time,
// leaving v.Frame as it was; false at the end. The video must have been
// opened luma only (Scan does, without debug frames).
func (v *Video) NextLuma(y []byte) (bool, error) {
	if err := v.dec.ReadLuma(context.Background(), y); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, &InputError{err}
	}
	v.advance()
	return true, nil
}

func (v *Video) advance() {
	v.Time = time.Duration(float64(v.n) / v.dec.FPS * float64(time.Second))
	v.n++
}

// BGR returns the current frame, as the detector saw it, in BGR for drawing on.
func (v *Video) BGR() (gocv.Mat, error) {
	f := &v.Frame
	yuv, err := gocv.NewMatFromBytes(f.Height*3/2, f.Width, gocv.MatTypeCV8U, f.Data)
	if err != nil {
		return gocv.Mat{}, err
	}
	defer yuv.Close()
	out := gocv.NewMat()
	gocv.CvtColor(yuv, &out, gocv.ColorYUVToBGRIYUV)
	return out, nil
}

// Close stops the decoder.
func (v *Video) Close() error { return v.dec.Close() }
