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
}

// newMuxer writes to out; maxLength (0: none) caps the video.
func newMuxer(out fragmentSink, fps float64, maxFragment, maxLength time.Duration) *muxer {
	if !(fps > 0) {
		fps = 30
	}
	return &muxer{out: out, frameTicks: uint32(math.Round(timescale / fps)), maxFragment: maxFragment,
		limit: uint64(maxLength.Seconds() * timescale)}
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
	frag, err := mp4.CreateFragment(m.seq, 1)
	if err != nil {
		return err
	}
	frag.Moof.Traf.Tfdt.SetBaseMediaDecodeTime(m.pos[0])
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
		frag.AddSample(mp4.Sample{Flags: flags, Dur: dur, Size: uint32(len(data))}, m.pos[0])
		frag.Mdat.AddSampleDataPart(data)
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
