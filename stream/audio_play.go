package stream

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// RingSound is ffmpeg input for the ring sound on the speaker: a two-tone
// chime, 660 Hz then 550 Hz, each fading out.
var RingSound = []string{"-f", "lavfi", "-i", "aevalsrc='0.6*sin(2*PI*if(lt(t,0.45),660,550)*t)*exp(-3*mod(t,0.45))':s=48000:d=1.2"}

// ErrNoSpeaker is returned by Play when no speaker is configured.
var ErrNoSpeaker = errors.New("the doorbell has no speaker: set audio.playback to the speaker's ALSA device (aplay -L lists them)")

// Play plays a sound on the speaker: input is ffmpeg's input arguments,
// such as {"-i", "reply.ogg"} for a quick reply or RingSound. It returns
// when the sound has played, ctx ends, a newer sound starts or a phone
// starts talking (talk wins). The microphone is muted meanwhile (half
// duplex). volume scales it (0 means the configured volume).
func (a *Audio) Play(ctx context.Context, input []string, volume float64) error {
	if !a.HasSpeaker() {
		return ErrNoSpeaker
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	a.mu.Lock()
	if a.stopSound != nil {
		a.stopSound() // one sound at a time: the newest
	}
	before, player := a.soundDone, a.playerDone
	a.soundGen++
	gen := a.soundGen
	a.stopSound, a.soundDone = cancel, done
	a.sounds++
	a.updateLocked() // the player lets go of the speaker
	a.mu.Unlock()
	defer func() {
		a.mu.Lock()
		a.sounds--
		if a.soundGen == gen {
			a.stopSound = nil
		}
		a.updateLocked()
		a.mu.Unlock()
	}()
	for _, c := range []chan struct{}{before, player} {
		if c != nil {
			select {
			case <-c:
			case <-ctx.Done():
				return nil
			}
		}
	}
	spk, err := a.card.Playback(ctx)
	if err != nil {
		return fmt.Errorf("speaker %s: %w", a.cfg.Playback, err)
	}
	closeSpeaker := sync.OnceValue(spk.Close) // lets what was written play out
	defer closeSpeaker()
	p, err := runPipeline(ctx, nil, spk, a.decodeArgv(input, volume))
	if err != nil {
		return fmt.Errorf("speaker: %w; install ffmpeg", err)
	}
	defer p.kill()
	mute := time.NewTicker(50 * time.Millisecond)
	defer mute.Stop()
	for {
		a.lastSpeaker.Store(time.Now().UnixNano()) // half duplex while it plays
		select {
		case <-p.done:
			if ctx.Err() != nil {
				return nil // cut off by talk, a newer sound or the caller
			}
			err := p.err
			if cerr := closeSpeaker(); err == nil {
				err = cerr
			}
			a.lastSpeaker.Store(time.Now().UnixNano())
			if err != nil {
				return fmt.Errorf("speaker %s: %v; check audio.playback (aplay -L lists the devices)", a.cfg.Playback, err)
			}
			return nil
		case <-ctx.Done():
			return nil
		case <-mute.C:
		}
	}
}

// stopSounds cuts off what Play is playing: a phone talks.
func (a *Audio) stopSounds() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopSound != nil {
		a.stopSound()
		a.stopSound = nil
		a.updateLocked() // the player takes the speaker again
	}
}
