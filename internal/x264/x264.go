// Package x264 encodes I420 pictures to H.264 Constrained Baseline with
// libx264, set up for live view: no lookahead, no B-frames, a fixed
// keyframe interval, SPS and PPS before every IDR.
package x264

/*
#cgo pkg-config: x264
#include <stdint.h>
#include <stdlib.h>
#include <x264.h>

// x264_encoder_open is a macro (it names the library's ABI version), which
// cgo cannot call; so are these wrappers.
static x264_t *doorbell_open(x264_param_t *p) { return x264_encoder_open(p); }

static int doorbell_params(x264_param_t *p, int w, int h, int fps_num, int fps_den, int kbps, int gop) {
	if (x264_param_default_preset(p, "ultrafast", "zerolatency") < 0) return -1;
	p->i_csp = X264_CSP_I420;
	p->i_width = w;
	p->i_height = h;
	p->i_fps_num = fps_num;
	p->i_fps_den = fps_den;
	p->i_timebase_num = fps_den;
	p->i_timebase_den = fps_num;
	p->b_vfr_input = 0;
	p->i_bframe = 0;
	p->i_keyint_max = gop;
	p->i_keyint_min = gop; // x264 caps it at keyint/2+1, as it does for ffmpeg
	p->i_scenecut_threshold = 0;
	p->rc.i_rc_method = X264_RC_ABR;
	p->rc.i_bitrate = kbps;
	p->rc.i_vbv_max_bitrate = kbps;
	p->rc.i_vbv_buffer_size = kbps;
	p->b_repeat_headers = 1;
	p->b_annexb = 1;
	p->i_log_level = X264_LOG_ERROR;
	if (x264_param_apply_profile(p, "baseline") < 0) return -2;
	return 0;
}

// doorbell_encode encodes the picture whose planes start at y (I420,
// tightly packed) and returns the size of the output at *out, 0 for none.
static int doorbell_encode(x264_t *h, x264_picture_t *in, uint8_t *y, int w, int hgt, int64_t pts, uint8_t **out, int *idr) {
	x264_picture_t pic_out;
	x264_nal_t *nals;
	int n;
	in->img.i_csp = X264_CSP_I420;
	in->img.i_plane = 3;
	in->img.plane[0] = y;
	in->img.plane[1] = y + w * hgt;
	in->img.plane[2] = y + w * hgt + (w / 2) * (hgt / 2);
	in->img.i_stride[0] = w;
	in->img.i_stride[1] = w / 2;
	in->img.i_stride[2] = w / 2;
	in->i_pts = pts;
	int size = x264_encoder_encode(h, &nals, &n, in, &pic_out);
	if (size > 0) {
		*out = nals[0].p_payload; // x264 writes a picture's NAL units one after another
		*idr = pic_out.b_keyframe;
	}
	return size;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"unsafe"
)

// Config is what the encoder makes.
type Config struct {
	Width, Height int
	FPS           float64
	BitrateKbps   int // average, and the VBV's rate and size: at most about this much in any second
	GOP           int // frames from one IDR picture to the next
}

// Encoder is one libx264 encoder. It is not safe for concurrent use.
type Encoder struct {
	cfg   Config
	h     *C.x264_t
	pic   *C.x264_picture_t
	frame unsafe.Pointer // C memory: one I420 picture, for Frame
	size  int
	pts   int64
}

// New opens an encoder for cfg.
func New(cfg Config) (*Encoder, error) {
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width%2 != 0 || cfg.Height%2 != 0 {
		return nil, fmt.Errorf("x264: frame size %dx%d is not usable: width and height must be positive and even", cfg.Width, cfg.Height)
	}
	if !(cfg.FPS > 0) || cfg.FPS > 240 {
		return nil, fmt.Errorf("x264: frame rate is %g; use one between 1 and 240, e.g. 30", cfg.FPS)
	}
	if cfg.BitrateKbps <= 0 {
		return nil, fmt.Errorf("x264: bit rate is %d kbit/s; use a positive bit rate, e.g. 2000", cfg.BitrateKbps)
	}
	if cfg.GOP <= 0 {
		return nil, fmt.Errorf("x264: keyframe interval is %d frames; use a positive number, e.g. 15", cfg.GOP)
	}
	// The frame rate as a fraction: 30 is 30/1, 29.97 is 30000/1001.
	num, den := int(math.Round(cfg.FPS*1000)), 1000
	if float64(int(cfg.FPS)) == cfg.FPS {
		num, den = int(cfg.FPS), 1
	}
	var p C.x264_param_t
	switch C.doorbell_params(&p, C.int(cfg.Width), C.int(cfg.Height), C.int(num), C.int(den), C.int(cfg.BitrateKbps), C.int(cfg.GOP)) {
	case 0:
	case -2:
		return nil, errors.New("x264: this libx264 has no baseline profile (is it built for high bit depth only?); install Debian's libx264")
	default:
		return nil, errors.New("x264: this libx264 has no ultrafast preset or zerolatency tune; install Debian's libx264")
	}
	h := C.doorbell_open(&p)
	if h == nil {
		return nil, fmt.Errorf("x264: libx264 refused %dx%d at %g fps, %d kbit/s; check the camera and stream settings", cfg.Width, cfg.Height, cfg.FPS, cfg.BitrateKbps)
	}
	e := &Encoder{cfg: cfg, h: h, size: cfg.Width * cfg.Height * 3 / 2}
	e.pic = (*C.x264_picture_t)(C.malloc(C.size_t(unsafe.Sizeof(C.x264_picture_t{}))))
	C.x264_picture_init(e.pic)
	e.frame = C.malloc(C.size_t(e.size))
	return e, nil
}

// Frame is the buffer of the next picture to encode: fill it with one
// I420 picture (Y, then U, then V, no padding) and call Encode. Reading
// into it saves a copy of every frame.
func (e *Encoder) Frame() []byte {
	return unsafe.Slice((*byte)(e.frame), e.size)
}

// Encode encodes the picture in Frame and returns its access unit as an
// Annex B byte stream (SPS and PPS first when it is an IDR picture),
// valid until the next call. With no lookahead and no B-frames every
// picture comes out at once.
func (e *Encoder) Encode() (au []byte, idr bool, err error) {
	var out *C.uint8_t
	var key C.int
	n := C.doorbell_encode(e.h, e.pic, (*C.uint8_t)(e.frame), C.int(e.cfg.Width), C.int(e.cfg.Height), C.int64_t(e.pts), &out, &key)
	e.pts++
	if n < 0 {
		return nil, false, fmt.Errorf("x264: encoding picture %d failed", e.pts-1)
	}
	if n == 0 {
		return nil, false, nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(out)), int(n)), key != 0, nil
}

// Close frees the encoder.
func (e *Encoder) Close() {
	if e.h != nil {
		C.x264_encoder_close(e.h)
		C.free(unsafe.Pointer(e.pic))
		C.free(e.frame)
		e.h = nil
	}
}
