package recorder

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"time"

	"github.com/Eyevinn/mp4ff/mp4"

	"doorbell/stream"
)

// timescale is the MP4 track's clock: 90 kHz, as for RTP video.
const timescale = 90000

// fragmentSink takes the MP4 as it is made: Write for boxes, Checkpoint
// after each whole fragment (crypto/clip.Writer does both).
type fragmentSink interface {
	io.Writer
	Checkpoint(video time.Duration) error
}

// muxer turns access units into a fragmented MP4 (built with mp4ff): an
// init segment from the first keyframe's SPS and PPS, then one fragment per
// GOP, cut also whenever a fragment would pass maxFragment, so a cut-off
// recording loses at most one fragment.
//
// Each picture is placed at its capture time rounded to whole frames of the
// nominal rate (and at least a frame after the one before): the camera's
// jitter does not reach the file, dropped frames leave gaps of whole
// frames, and the clock never drifts from the capture times.
type muxer struct {
	out         fragmentSink
	frameTicks  uint32 // one frame at the nominal rate, for the last sample
	maxFragment time.Duration
	limit       uint64 // longest video, in ticks; 0: none
	full        bool   // a picture was refused: the video reached limit

	started    bool
	first      time.Time
	sps, pps   []byte
	pending    []*stream.AccessUnit
	pos        []uint64 // each pending picture's decode time, in ticks
	next       uint64   // the earliest decode time for the next picture
	decodeTime uint64   // ticks of the samples written
	seq        uint32
	buf        bytes.Buffer

	audio      bool                // the clip has a second track: the microphone's Opus
	sound      []stream.OpusPacket // Opus waiting for the next fragment
	soundNext  uint64              // the next Opus packet's decode time, in audioTimescale ticks
	soundStart bool                // an Opus packet was written: soundNext is set
}

// Opus in the clip: 48 kHz, one packet (stream.OpusFrame) per sample
// (the microphone's encoder makes nothing else).
const (
	audioTimescale = 48000
	opusTicks      = audioTimescale * uint64(stream.OpusFrame) / uint64(time.Second)
	// opusPreSkip is libopus's encoder delay at 48 kHz, which the decoder drops.
	opusPreSkip = 312
	// soundResync: a gap in the microphone's packets longer than this
	// (a restart) moves the next fragment's Opus to its capture time.
	soundResync = 100 * time.Millisecond
)

// newMuxer writes to out; maxLength (0: none) caps the video. With audio,
// the init segment has a second track for Opus (addSound).
func newMuxer(out fragmentSink, fps float64, maxFragment, maxLength time.Duration, audio bool) *muxer {
	if !(fps > 0) {
		fps = 30
	}
	return &muxer{out: out, frameTicks: uint32(math.Round(timescale / fps)), maxFragment: maxFragment,
		limit: uint64(maxLength.Seconds() * timescale), audio: audio}
}

// addSound takes the microphone's next Opus packet; it goes into the
// fragment that the next picture's flush writes. Sound from before the
// first picture, or past the video's end, is dropped: the clip is the
// video's length.
func (m *muxer) addSound(p stream.OpusPacket) {
	if !m.audio || !m.started || m.full || p.Captured.Before(m.first) {
		return
	}
	m.sound = append(m.sound, p)
}

// add takes the next access unit. Until the first keyframe, access units
// are skipped: nothing before it could be decoded.
func (m *muxer) add(au *stream.AccessUnit) error {
	if !m.started {
		if !au.Keyframe {
			return nil
		}
		if err := m.writeInit(au); err != nil {
			return err
		}
		m.started = true
		m.first = au.Captured
	}
	frames := math.Round(au.Captured.Sub(m.first).Seconds() * timescale / float64(m.frameTicks))
	pos := max(m.next, uint64(max(frames, 0))*uint64(m.frameTicks))
	if m.limit > 0 && pos+uint64(m.frameTicks) > m.limit {
		m.full = true
		return nil
	}
	if len(m.pending) > 0 && (au.Keyframe || au.Captured.Sub(m.pending[0].Captured) >= m.maxFragment) {
		if err := m.flush(pos); err != nil {
			return err
		}
	}
	m.pending = append(m.pending, au)
	m.pos = append(m.pos, pos)
	m.next = pos + uint64(m.frameTicks)
	return nil
}

// close writes the last fragment; its last picture lasts one frame.
func (m *muxer) close() error {
	return m.flush(m.next)
}

// duration is the video written so far.
func (m *muxer) duration() time.Duration {
	return time.Duration(m.decodeTime) * time.Second / timescale
}

func (m *muxer) writeInit(au *stream.AccessUnit) error {
	for _, n := range au.NALUs {
		switch n[0] & 0x1f {
		case 7:
			m.sps = n
		case 8:
			m.pps = n
		}
	}
	if m.sps == nil || m.pps == nil {
		return errors.New("keyframe without SPS and PPS")
	}
	init := mp4.NewMP4Init()
	init.AddChild(mp4.NewFtyp("isom", 0x200, []string{"isom", "iso6", "avc1", "mp41"}))
	moov := mp4.NewMoovBox()
	init.AddChild(moov)
	moov.AddChild(mp4.CreateMvhd())
	moov.AddChild(mp4.NewMvexBox())
	init.AddEmptyTrack(timescale, "video", "und")
	if err := init.Moov.Trak.SetAVCDescriptor("avc1", [][]byte{m.sps}, [][]byte{m.pps}, true); err != nil {
		return err
	}
	if m.audio {
		init.AddEmptyTrack(audioTimescale, "audio", "und")
		dops := &mp4.DopsBox{OutputChannelCount: 1, PreSkip: opusPreSkip, InputSampleRate: audioTimescale}
		init.Moov.Traks[1].Mdia.Minf.Stbl.Stsd.AddChild(mp4.CreateAudioSampleEntryBox("Opus", 1, 16, audioTimescale, dops))
	}
	m.buf.Reset()
	if err := init.Encode(&m.buf); err != nil {
		return err
	}
	_, err := m.out.Write(m.buf.Bytes())
	return err
}

// flush writes the pending access units as one fragment and a checkpoint.
// end is the decode time of the picture after them.
func (m *muxer) flush(end uint64) error {
	if len(m.pending) == 0 {
		return nil
	}
	m.seq++
	tracks := []uint32{1}
	soundAt, sounds := m.soundFor(end)
	if sounds > 0 {
		tracks = append(tracks, 2)
	}
	frag, err := mp4.CreateMultiTrackFragment(m.seq, tracks)
	if err != nil {
		return err
	}
	for i, au := range m.pending {
		next := end
		if i+1 < len(m.pending) {
			next = m.pos[i+1]
		}
		dur := uint32(min(next-m.pos[i], math.MaxUint32))
		data := m.avcc(au)
		flags := mp4.NonSyncSampleFlags
		if au.Keyframe {
			flags = mp4.SyncSampleFlags
		}
		if err := frag.AddFullSampleToTrack(mp4.FullSample{Sample: mp4.Sample{Flags: flags, Dur: dur, Size: uint32(len(data))},
			DecodeTime: m.pos[0], Data: data}, 1); err != nil {
			return err
		}
	}
	if err := m.flushSound(frag, soundAt, sounds); err != nil {
		return err
	}
	m.decodeTime = end
	clear(m.pending)
	m.pending = m.pending[:0]
	m.pos = m.pos[:0]
	m.buf.Reset()
	if err := frag.Encode(&m.buf); err != nil {
		return err
	}
	if _, err := m.out.Write(m.buf.Bytes()); err != nil {
		return err
	}
	return m.out.Checkpoint(m.duration())
}

// soundFor takes the waiting Opus that fits before end, the video's
// decode time after this fragment, and says where it starts: packet after
// packet, stream.OpusFrame each; after a gap (the microphone restarted)
// the track resumes at the packet's capture time. What does not fit waits
// for the next fragment.
func (m *muxer) soundFor(end uint64) (at uint64, n int) {
	if len(m.sound) == 0 {
		return 0, 0
	}
	endTicks := end * audioTimescale / timescale
	at = uint64(max(m.sound[0].Captured.Sub(m.first), 0).Seconds() * audioTimescale)
	if m.soundStart && at < m.soundNext+uint64(soundResync.Seconds()*audioTimescale) {
		at = m.soundNext // contiguous: capture times jitter, the packets do not
	}
	n = min(len(m.sound), int(max(int64(endTicks)-int64(at), 0)/int64(opusTicks)))
	return at, n
}

// flushSound adds n waiting Opus packets from at to frag's second track.
func (m *muxer) flushSound(frag *mp4.Fragment, at uint64, n int) error {
	for _, p := range m.sound[:n] {
		if err := frag.AddFullSampleToTrack(mp4.FullSample{Sample: mp4.Sample{Flags: mp4.SyncSampleFlags, Dur: uint32(opusTicks), Size: uint32(len(p.Data))},
			DecodeTime: at, Data: p.Data}, 2); err != nil {
			return err
		}
		at += opusTicks
		m.soundNext, m.soundStart = at, true
	}
	rest := copy(m.sound, m.sound[n:])
	clear(m.sound[rest:])
	m.sound = m.sound[:rest]
	return nil
}

// avcc converts an access unit to MP4's length-prefixed NAL units. The SPS
// and PPS are in the init segment: copies of those are left out.
func (m *muxer) avcc(au *stream.AccessUnit) []byte {
	n := 0
	for _, nal := range au.NALUs {
		n += 4 + len(nal)
	}
	out := make([]byte, 0, n)
	for _, nal := range au.NALUs {
		switch nal[0] & 0x1f {
		case 9: // access unit delimiter
			continue
		case 7:
			if bytes.Equal(nal, m.sps) {
				continue
			}
		case 8:
			if bytes.Equal(nal, m.pps) {
				continue
			}
		}
		out = binary.BigEndian.AppendUint32(out, uint32(len(nal)))
		out = append(out, nal...)
	}
	return out
}
