package stream

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// RingSound is ffmpeg input for the ring sound on the speaker: a two-tone
// chime, 660 Hz then 550 Hz, each fading out.
var RingSound = []string{"-f", "lavfi", "-i", "aevalsrc='0.6*sin(2*PI*if(lt(t,0.45),660,550)*t)*exp(-3*mod(t,0.45))':s=48000:d=1.2"}

// ErrNoSpeaker is returned by Play when no speaker is configured.
var ErrNoSpeaker = errors.New("the doorbell has no speaker: set audio.playback to the speaker's ALSA device (aplay -L lists them)")

// Play plays a sound on the speaker: input is ffmpeg's input arguments,
// such as {"-i", "reply.ogg"} for a quick reply or a lavfi source for the
// ring sound. It returns when the sound has played, ctx ends, or the phone
// starts talking (talk wins over a recording). The microphone is muted
// meanwhile (half duplex). volume scales it (0 means audio.volume).
func (a *Audio) Play(ctx context.Context, input []string, volume float64) error {
	if !a.HasSpeaker() {
		return ErrNoSpeaker
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	if a.stopSound != nil {
		a.stopSound() // one sound at a time: the newest
	}
	a.stopSound = cancel
	a.sounds++
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.sounds--
		a.mu.Unlock()
	}()
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin"}
	args = append(args, input...)
	args = append(args, "-ac", "1", "-ar", "48000")
	if volume <= 0 {
		volume = a.cfg.Volume
	}
	if volume != 1 {
		args = append(args, "-af", fmt.Sprintf("volume=%.2f", volume))
	}
	cmd := exec.CommandContext(ctx, a.cfg.FFmpeg, append(args, a.playbackOutput()...)...)
	stderr := &tailWriter{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("speaker: cannot start %s: %w; install ffmpeg or set audio.ffmpeg", a.cfg.FFmpeg, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	mute := time.NewTicker(50 * time.Millisecond)
	defer mute.Stop()
	for {
		a.lastTalk.Store(time.Now().UnixNano()) // half duplex while it plays
		select {
		case err := <-exited:
			if ctx.Err() != nil {
				return nil // cut off: by talk, a newer sound or the caller
			}
			if err != nil {
				return fmt.Errorf("speaker %s: %v: %s; check audio.playback (aplay -L lists the devices)", a.cfg.Playback, err, stderr.lastLine())
			}
			return nil
		case <-mute.C:
		}
	}
}

// stopSounds cuts off what Play is playing: the phone talks.
func (a *Audio) stopSounds() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopSound != nil {
		a.stopSound()
		a.stopSound = nil
	}
}
