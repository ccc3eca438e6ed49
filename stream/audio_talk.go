package stream

import (
	"io"
	"sync"
	"time"
)

// talkPlayer plays the phones' voices on the speaker: each packet decoded
// and written as it arrives, a lost one filled in from the next one's FEC
// or by concealment. Between words nothing is written and the sound card
// plays silence.
type talkPlayer struct {
	a      *Audio
	failed chan error // the first failure, for playOnce

	mu      sync.Mutex // held while a packet plays
	dec     *speakerDecoder
	spk     io.Writer
	done    bool      // failed or stopped: nothing more is written
	playing bool      // a packet was decoded: a loss after it can be concealed
	queued  time.Time // when what was written will have played
}

// talkLead is the silence the speaker plays before talk: 20 ms, the
// phone's packets' jitter on a home network that it absorbs.
var talkLead = make([]byte, 2*sampleRate/50)

// pcmDuration is how long pcm (the card's format) plays.
func pcmDuration(pcm []byte) time.Duration {
	return time.Duration(len(pcm)/2) * time.Second / sampleRate
}

// play plays one of a phone's packets.
func (p *talkPlayer) play(t talkPacket) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	if err := p.playLocked(t); err != nil {
		p.done = true
		p.failed <- err
	}
}

func (p *talkPlayer) playLocked(t talkPacket) error {
	if time.Since(t.at) > 300*time.Millisecond {
		p.playing = false
		return nil // held up while a reply had the speaker: too late to be heard
	}
	if p.playing && t.lost > 0 && t.lost <= maxConcealed {
		for i := 0; i < t.lost; i++ {
			var next []byte
			if i == t.lost-1 {
				next = t.payload // its FEC carries the packet just before it
			}
			pcm, err := p.dec.conceal(next)
			if err != nil {
				return err
			}
			if err := p.write(pcm); err != nil {
				return err
			}
		}
	}
	pcm, err := p.dec.decode(t.payload)
	if err != nil {
		p.a.log.Debug("a phone's packet did not decode", "err", err)
		p.playing = false
		return nil
	}
	p.a.talkPacketMS.Store(pcmDuration(pcm).Milliseconds())
	if err := p.write(pcm); err != nil {
		return err
	}
	p.playing = true
	p.a.speakerPkts.Add(1)
	p.a.lastSpeaker.Store(time.Now().UnixNano())
	return nil
}

func (p *talkPlayer) write(pcm []byte) error {
	now := time.Now()
	if p.queued.Before(now) {
		// The card has run dry (or talk starts): a little silence first,
		// so that the next packet may come that late without a gap.
		if _, err := p.spk.Write(talkLead); err != nil {
			return err
		}
		p.queued = now.Add(pcmDuration(talkLead))
	}
	p.queued = p.queued.Add(pcmDuration(pcm))
	_, err := p.spk.Write(pcm)
	return err
}

// stop waits for a packet being played and lets no other be.
func (p *talkPlayer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
}
