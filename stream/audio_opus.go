package stream

import (
	"encoding/binary"
	"fmt"
	"math"

	"gopkg.in/hraban/opus.v2"
)

// The microphone's Opus, encoded by libopus in the daemon: speech
// (the VoIP application), OpusFrame packets, mono, wideband.
const (
	// opusBandwidth: wideband (16 kHz sampling, sound up to 8 kHz), a
	// phone's HD voice and twice the 8 kHz most doorbells send. libopus
	// then codes speech with SILK alone; at full band it adds CELT above
	// 8 kHz, which a doorbell's microphone hardly hears. In the daemon that
	// costs 0.5 % of a core more (BenchmarkAudioCPU/alone: 3.3 against
	// 2.75 %, at 32 kb/s).
	opusBandwidth = opus.Wideband
	opusBitrate   = 24000 // SILK's wideband at its best for speech
	// opusComplexity is chosen by measurement (BenchmarkOpusEncode, on a
	// voice, wideband): 2 and 3 cost 0.54 and 0.61 % of a core, 4 and 5
	// 0.72–0.77 %, 8 and 10 1.9–2.1 %. 5 is the best that costs little
	// more than the least.
	opusComplexity = 5
	// opusLossPercent is the packet loss the encoder expects on a home
	// Wi-Fi: it makes in-band FEC (which the SDP offers) worth its bits.
	opusLossPercent = 5
)

// micComplexity is the microphone's encoder complexity: opusComplexity,
// but for BenchmarkAudioCPU, which measures others.
var micComplexity = opusComplexity

// micEncoder turns the microphone's PCM into Opus packets.
type micEncoder struct {
	enc *opus.Encoder
	pcm []int16
	out []byte
}

func newMicEncoder(complexity int) (*micEncoder, error) {
	enc, err := opus.NewEncoder(sampleRate, 1, opus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("cannot start the Opus encoder (libopus): %w", err)
	}
	for _, set := range []func() error{
		func() error { return enc.SetBitrate(opusBitrate) },
		func() error { return enc.SetComplexity(complexity) },
		func() error { return enc.SetInBandFEC(true) },
		func() error { return enc.SetPacketLossPerc(opusLossPercent) },
		func() error { return enc.SetMaxBandwidth(opusBandwidth) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("cannot set up the Opus encoder (libopus): %w", err)
		}
	}
	return &micEncoder{enc: enc, pcm: make([]int16, frameSamples), out: make([]byte, 1500)}, nil
}

// encode makes one Opus packet of OpusFrame of PCM (frameBytes, s16le). The
// packet is valid until the next call.
func (e *micEncoder) encode(frame []byte) ([]byte, error) {
	for i := range e.pcm {
		e.pcm[i] = int16(binary.LittleEndian.Uint16(frame[2*i:]))
	}
	n, err := e.enc.Encode(e.pcm, e.out)
	if err != nil {
		return nil, fmt.Errorf("libopus could not encode the microphone's sound: %w", err)
	}
	return e.out[:n], nil
}

// speakerDecoder turns a phone's Opus packets into the speaker's PCM,
// filling in lost packets.
type speakerDecoder struct {
	dec     *opus.Decoder
	volume  float64
	pcm     []int16
	out     []byte
	samples int // in the last packet decoded: a lost one is as long
}

func newSpeakerDecoder(volume float64) (*speakerDecoder, error) {
	dec, err := opus.NewDecoder(sampleRate, 1)
	if err != nil {
		return nil, fmt.Errorf("cannot start the Opus decoder (libopus): %w", err)
	}
	const most = sampleRate * 120 / 1000 // a phone sends up to 120 ms in one packet
	return &speakerDecoder{dec: dec, volume: volume, pcm: make([]int16, most), out: make([]byte, 2*most), samples: frameSamples}, nil
}

// decode returns the PCM (s16le) of one packet, valid until the next call.
func (d *speakerDecoder) decode(packet []byte) ([]byte, error) {
	n, err := d.dec.Decode(packet, d.pcm)
	if err != nil {
		return nil, fmt.Errorf("a phone's sound is not Opus that libopus can decode: %w", err)
	}
	d.samples = n
	return d.pcmBytes(n), nil
}

// conceal returns the sound standing in for a lost packet, as long as
// the packet before it: rebuilt from the in-band FEC of next, the packet
// after it, if it carries some, else by the decoder's concealment, which
// continues the sound before the loss.
func (d *speakerDecoder) conceal(next []byte) ([]byte, error) {
	pcm := d.pcm[:d.samples:d.samples] // the binding decodes as much as fits
	var err error
	if len(next) > 0 {
		err = d.dec.DecodeFEC(next, pcm) // falls back to concealment without FEC
	} else {
		err = d.dec.DecodePLC(pcm)
	}
	if err != nil {
		return nil, fmt.Errorf("libopus could not conceal a lost packet: %w", err)
	}
	return d.pcmBytes(d.samples), nil
}

func (d *speakerDecoder) pcmBytes(n int) []byte {
	for i, v := range d.pcm[:n] {
		if d.volume != 1 {
			v = int16(max(math.MinInt16, min(math.MaxInt16, math.Round(float64(v)*d.volume))))
		}
		binary.LittleEndian.PutUint16(d.out[2*i:], uint16(v))
	}
	return d.out[:2*n]
}
