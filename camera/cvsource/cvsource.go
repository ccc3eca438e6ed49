// Package cvsource reads camera frames through OpenCV: from a video file or
// from a V4L2 device such as a USB webcam.
package cvsource

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"os"
	"time"

	"gocv.io/x/gocv"

	"doorbell/camera"
	_ "doorbell/internal/cvbuild" // the OpenCV build tags
)

// FileConfig plays a video file as a camera.
type FileConfig struct {
	Path          string
	Width, Height int  // frames are scaled to this size
	Loop          bool // start again at the end
	Realtime      bool // pace at the file's frame rate; false: as fast as it decodes
}

// V4L2Config opens a V4L2 device.
type V4L2Config struct {
	Device        string // e.g. /dev/video0
	Width, Height int
	FPS           float64
}

// capture turns OpenCV's BGR frames into I420 frames of a fixed size.
type capture struct {
	vc                *gocv.VideoCapture
	bgr, scaled, i420 gocv.Mat
	w, h              int
	pacer             camera.Pacer // FPS 0: not paced
	loop              bool
	device            bool // a camera, not a file
	name              string
	seq               uint64
}

// OpenFile opens a video file OpenCV can read.
func OpenFile(ctx context.Context, cfg FileConfig) (camera.Source, error) {
	if err := camera.CheckSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.Path); err != nil {
		return nil, fmt.Errorf("cannot open video file: %v; check camera.file.path", err)
	}
	vc, err := gocv.VideoCaptureFile(cfg.Path)
	if err != nil || !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("cannot decode video file %s: OpenCV does not read it; convert it with ffmpeg to MP4 (H.264) or AVI", cfg.Path)
	}
	c := newCapture(vc, cfg.Width, cfg.Height, cfg.Path)
	c.loop = cfg.Loop
	if cfg.Realtime {
		c.pacer.FPS = vc.Get(gocv.VideoCaptureFPS)
		if !(c.pacer.FPS > 0 && c.pacer.FPS <= 240) {
			c.pacer.FPS = 25 // files without a usable rate: a common one
		}
	}
	return c, nil
}

// FileFPS returns the frame rate a video file declares (0 if none).
func FileFPS(path string) float64 {
	vc, err := gocv.VideoCaptureFile(path)
	if err != nil {
		vc.Close()
		return 0
	}
	defer vc.Close()
	return vc.Get(gocv.VideoCaptureFPS)
}

// OpenV4L2 opens a V4L2 camera, asks for the configured size and rate, and
// logs what the device agreed to.
func OpenV4L2(ctx context.Context, cfg V4L2Config, log *slog.Logger) (camera.Source, error) {
	if err := camera.CheckSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	if _, err := os.Stat(cfg.Device); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("camera device %s does not exist; connect the camera, or set camera.v4l2.device (see ls /dev/video*)", cfg.Device)
		}
		return nil, fmt.Errorf("cannot use camera device %s: %v; add the doorbell user to the video group", cfg.Device, err)
	}
	vc, err := gocv.VideoCaptureFileWithAPI(cfg.Device, gocv.VideoCaptureV4L2)
	if err != nil || !vc.IsOpened() {
		vc.Close()
		return nil, fmt.Errorf("cannot open camera device %s: it is busy or not a capture device; stop other programs using it, or choose another /dev/videoN", cfg.Device)
	}
	vc.Set(gocv.VideoCaptureFrameWidth, float64(cfg.Width))
	vc.Set(gocv.VideoCaptureFrameHeight, float64(cfg.Height))
	vc.Set(gocv.VideoCaptureFPS, cfg.FPS)
	log.Info("camera device negotiated",
		"device", cfg.Device,
		"width", int(vc.Get(gocv.VideoCaptureFrameWidth)),
		"height", int(vc.Get(gocv.VideoCaptureFrameHeight)),
		"fps", vc.Get(gocv.VideoCaptureFPS),
		"scaled_to", fmt.Sprintf("%dx%d", cfg.Width, cfg.Height))
	// The device paces itself; frames are not held back.
	c := newCapture(vc, cfg.Width, cfg.Height, cfg.Device)
	c.device = true
	return c, nil
}

func newCapture(vc *gocv.VideoCapture, w, h int, name string) *capture {
	return &capture{vc: vc, bgr: gocv.NewMat(), scaled: gocv.NewMat(), i420: gocv.NewMat(), w: w, h: h, name: name}
}

// Read decodes the next frame, scales it and converts it to I420.
func (c *capture) Read(ctx context.Context, f *camera.Frame) error {
	if c.pacer.FPS > 0 {
		if err := c.pacer.Wait(ctx, c.seq); err != nil {
			return err
		}
	} else if err := ctx.Err(); err != nil {
		return err
	}
	if !c.vc.Read(&c.bgr) || c.bgr.Empty() {
		if c.device {
			return fmt.Errorf("camera device %s gives no frames; check its cable, and that no other program uses it", c.name)
		}
		if !c.loop {
			return fmt.Errorf("%s ended; set camera.file.loop = true to play it again and again", c.name)
		}
		c.vc.Set(gocv.VideoCapturePosFrames, 0)
		if !c.vc.Read(&c.bgr) || c.bgr.Empty() {
			return fmt.Errorf("%s gives no frames; check that the file plays, or that the camera works in another program", c.name)
		}
	}
	src := c.bgr
	if c.bgr.Cols() != c.w || c.bgr.Rows() != c.h {
		gocv.Resize(c.bgr, &c.scaled, image.Pt(c.w, c.h), 0, 0, gocv.InterpolationArea)
		src = c.scaled
	}
	if src.Channels() == 1 {
		gocv.CvtColor(src, &c.scaled, gocv.ColorGrayToBGR)
		src = c.scaled
	}
	gocv.CvtColor(src, &c.i420, gocv.ColorBGRToYUVI420)
	data, err := c.i420.DataPtrUint8()
	if err != nil {
		return fmt.Errorf("%s: converting a frame failed: %v", c.name, err)
	}
	f.Resize(c.w, c.h)
	copy(f.Data, data)
	f.Captured = time.Now()
	f.Seq = c.seq
	c.seq++
	return nil
}

// Close releases the device or file and the buffers.
func (c *capture) Close() error {
	c.bgr.Close()
	c.scaled.Close()
	c.i420.Close()
	return c.vc.Close()
}
