package stream

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"sync"
	"time"
)

// SoundCard is where the doorbell's sound comes from and goes to: PCM,
// 48 kHz mono, signed 16-bit little endian. Opus is encoded and decoded
// in the daemon; the card only moves samples. ALSA (arecord and aplay) on
// the device; the demo's tone and silent speaker otherwise.
type SoundCard interface {
	// Capture starts the microphone: reading gives its sound as it is
	// heard. Close stops it and reports why it failed, if it did.
	Capture(ctx context.Context) (io.ReadCloser, error)
	// Playback starts the speaker: what is written plays. Close lets what
	// was written play out, then stops it.
	Playback(ctx context.Context) (io.WriteCloser, error)
}

// PCM's shape, as the sound card and the Opus codec take it.
const (
	sampleRate   = 48000
	frameSamples = sampleRate * int(OpusFrame/time.Millisecond) / 1000 // one Opus packet
	frameBytes   = 2 * frameSamples
)

// OpusFrame is how much sound one Opus packet carries, each way: the
// microphone's packets, and the phone's, which the answer asks for
// (a=ptime). Each packet wakes the doorbell's threads (the sound card's
// pipe, the socket, pion's goroutines), and on a small CPU that costs more
// than the codec: 40 ms packets use 3.0 % of a core for talk both ways
// where 20 ms ones use 4.9 % (BenchmarkAudioCPU), for 20 ms more delay
// each way, far inside a conversation's 200 ms.
const OpusFrame = 40 * time.Millisecond

// ALSA buffer and period sizes asked of arecord and aplay, in
// microseconds. The speaker's buffer bounds how long it plays on after a
// release; its short periods keep it from running dry between a phone's
// packets. The microphone's period is one Opus frame: arecord, and the
// encoder reading it, wake once a frame; its buffer is three.
const (
	capturePeriodUS  = int(OpusFrame / time.Microsecond)
	captureBufferUS  = 3 * capturePeriodUS
	playbackBufferUS = 40000
	playbackPeriodUS = 10000
)

// ALSA is a sound card through alsa-utils: arecord on the capture device
// and aplay on the playback device, each with a short buffer (ffmpeg's own
// ALSA output would take up to the device's largest, often over half a
// second of delay).
type ALSA struct {
	ARecord, APlay                string // the programs; "" means "arecord" and "aplay"
	CaptureDevice, PlaybackDevice string // the ALSA devices, such as "plughw:1,0"
}

func (c ALSA) argv(prog, device string, bufferUS, periodUS int) []string {
	return []string{prog, "-q", "-D", device, "-t", "raw", "-f", "S16_LE", "-r", strconv.Itoa(sampleRate), "-c", "1",
		"--buffer-time=" + strconv.Itoa(bufferUS), "--period-time=" + strconv.Itoa(periodUS), "-"}
}

// CaptureArgv is the microphone's command.
func (c ALSA) CaptureArgv() []string {
	return c.argv(orDefault(c.ARecord, "arecord"), c.CaptureDevice, captureBufferUS, capturePeriodUS)
}

// PlaybackArgv is the speaker's command.
func (c ALSA) PlaybackArgv() []string {
	return c.argv(orDefault(c.APlay, "aplay"), c.PlaybackDevice, playbackBufferUS, playbackPeriodUS)
}

func orDefault(s, or string) string {
	if s == "" {
		return or
	}
	return s
}

// alsaStream is arecord's output or aplay's input. Its processes' CPU
// time is known once it is closed (for the CPU figures).
type alsaStream struct {
	*os.File
	p     *procs
	drain bool // playback: on Close, let aplay play what it has
	once  sync.Once
	err   error
}

// Capture starts arecord on the capture device.
func (c ALSA) Capture(ctx context.Context) (io.ReadCloser, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p, err := runPipeline(ctx, nil, w, c.CaptureArgv())
	w.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("%w; install alsa-utils", err)
	}
	return &alsaStream{File: r, p: p}, nil
}

// Playback starts aplay on the playback device.
func (c ALSA) Playback(ctx context.Context) (io.WriteCloser, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	p, err := runPipeline(ctx, r, nil, c.PlaybackArgv())
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("%w; install alsa-utils", err)
	}
	return &alsaStream{File: w, p: p, drain: true}, nil
}

// Read returns arecord's failure, with its message, when it has stopped.
func (s *alsaStream) Read(b []byte) (int, error) {
	n, err := s.File.Read(b)
	if errors.Is(err, io.EOF) {
		<-s.p.done
		if s.p.err != nil {
			return n, s.p.err
		}
	}
	return n, err
}

// Write returns aplay's failure, with its message, when it has stopped.
func (s *alsaStream) Write(b []byte) (int, error) {
	n, err := s.File.Write(b)
	if err != nil {
		select {
		case <-s.p.done:
			if s.p.err != nil {
				return n, s.p.err
			}
		default:
		}
	}
	return n, err
}

// drainTime is how long aplay may take to play out what is left when its
// input ends (a full pipe, 64 KiB or 0.7 s, and ALSA's buffer), before it
// is killed. When the stream's context ends, aplay is killed at once.
const drainTime = 2 * time.Second

func (s *alsaStream) Close() error {
	s.once.Do(func() {
		s.File.Close()
		if s.drain {
			select {
			case <-s.p.done:
			case <-time.After(drainTime):
			}
		}
		s.p.kill()
		s.err = s.p.err
	})
	return s.err
}

// stopped is closed when arecord or aplay has ended.
func (s *alsaStream) stopped() <-chan struct{} { return s.p.done }

// cpu is the CPU time arecord or aplay used, once closed.
func (s *alsaStream) cpu() time.Duration {
	select {
	case <-s.p.done:
		return s.p.cpu
	default:
		return 0
	}
}

// cpuUser is a stream whose processes' CPU time is known once it is closed.
type cpuUser interface{ cpu() time.Duration }

// DemoCard is the demo's sound card: a microphone that hears a steady
// tone, and a speaker that discards what it plays, each in real time as
// a sound card would.
type DemoCard struct {
	Hz float64 // the microphone's tone; 0 means 1 kHz
}

// Capture starts the tone.
func (c DemoCard) Capture(ctx context.Context) (io.ReadCloser, error) {
	hz := c.Hz
	if hz == 0 {
		hz = 1000
	}
	return &toneSource{ctx: ctx, hz: hz, start: time.Now()}, nil
}

// Playback starts a speaker that discards, at the rate it would play.
func (c DemoCard) Playback(ctx context.Context) (io.WriteCloser, error) {
	return &paced{ctx: ctx}, nil
}

// toneSource is a tone made as it is heard, 10 ms at a time.
type toneSource struct {
	ctx   context.Context
	hz    float64
	start time.Time
	n     int64 // samples given
}

func (t *toneSource) Read(b []byte) (int, error) {
	for {
		if err := t.ctx.Err(); err != nil {
			return 0, err
		}
		due := int64(time.Since(t.start)*sampleRate/time.Second) - t.n
		if due >= sampleRate/100 {
			k := min(int(due), len(b)/2)
			for i := 0; i < k; i++ {
				v := 0.4 * math.MaxInt16 * math.Sin(2*math.Pi*t.hz*float64(t.n)/sampleRate)
				binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(v)))
				t.n++
			}
			return 2 * k, nil
		}
		time.Sleep(time.Duration(sampleRate/100-due) * time.Second / sampleRate)
	}
}

func (t *toneSource) Close() error { return nil }

// paced discards what is written, taking as long as playing it would
// (after a pause, it starts again at once, as a sound card's buffer does).
type paced struct {
	ctx context.Context
	end time.Time // when what was written has played
}

func (p *paced) Write(b []byte) (int, error) {
	if err := p.ctx.Err(); err != nil {
		return 0, err
	}
	now := time.Now()
	if p.end.Before(now) {
		p.end = now
	}
	p.end = p.end.Add(time.Duration(len(b)/2) * time.Second / sampleRate)
	if wait := time.Until(p.end) - playbackBufferUS*time.Microsecond; wait > 0 {
		select {
		case <-time.After(wait):
		case <-p.ctx.Done():
			return 0, p.ctx.Err()
		}
	}
	return len(b), nil
}

func (p *paced) Close() error { return nil }
