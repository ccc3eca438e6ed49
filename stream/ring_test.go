package stream

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// testGOPs makes n GOPs of size access units, 1 kB each, 33 ms apart.
func testGOPs(n, size int, start time.Time) []*AccessUnit {
	var aus []*AccessUnit
	for i := range n * size {
		var nalus [][]byte
		if i%size == 0 {
			nalus = [][]byte{{0x67, 0x42}, {0x68, 0xce}, append([]byte{0x65, 0x88}, make([]byte, 998)...)}
		} else {
			nalus = [][]byte{append([]byte{0x41, 0x9a}, make([]byte, 998)...)}
		}
		aus = append(aus, NewAccessUnit(nalus, start.Add(time.Duration(i)*33*time.Millisecond), uint64(i)))
	}
	return aus
}

func TestRingSnapshot(t *testing.T) {
	r := NewRing(1 << 20)
	if r.Snapshot(time.Now()) != nil {
		t.Fatal("an empty ring has a snapshot")
	}
	start := time.Now().Add(-time.Minute)
	aus := testGOPs(3, 10, start)
	r.WriteAccessUnit(aus[5]) // no keyframe yet: not kept
	if r.Snapshot(time.Now()) != nil {
		t.Fatal("a ring without a keyframe has a snapshot")
	}
	for _, au := range aus {
		r.WriteAccessUnit(au)
	}
	if s := r.Snapshot(time.Now()); len(s) != 10 || s[0] != aus[20] {
		t.Errorf("Snapshot(now) has %d units from seq %d; want the last GOP, 10 from 20", len(s), s[0].Seq)
	}
	if s := r.Snapshot(aus[15].Captured); len(s) != 20 || s[0] != aus[10] {
		t.Errorf("Snapshot(seq 15's time) has %d units from seq %d; want 20 from 10", len(s), s[0].Seq)
	}
	if s := r.Snapshot(start.Add(-time.Hour)); len(s) != 30 || s[0] != aus[0] {
		t.Errorf("Snapshot(long ago) has %d units; want all 30", len(s))
	}
	if st := r.Status(); st.Keyframes != 3 || st.Bytes != 3*(1004+9*1000) {
		t.Errorf("status %+v", st)
	}
}

func TestRingKeepsWithinBytes(t *testing.T) {
	r := NewRing(25 * 1000)
	aus := testGOPs(5, 10, time.Now().Add(-time.Minute))
	for i, au := range aus {
		r.WriteAccessUnit(au)
		st := r.Status()
		if st.Bytes > 25*1000 {
			t.Fatalf("after %d units the ring holds %d bytes", i+1, st.Bytes)
		}
		if s := r.Snapshot(time.Now()); len(s) == 0 || !s[0].Keyframe {
			t.Fatalf("after %d units the snapshot does not start at a keyframe", i+1)
		}
	}
	// 25 kB holds two and a half GOPs of 10 kB: the half, undecodable, is gone.
	if s := r.Snapshot(time.Time{}); len(s) != 20 || s[0] != aus[30] {
		t.Errorf("ring holds %d units from seq %d; want 20 from 30", len(s), s[0].Seq)
	}
}

func TestRingSubscribe(t *testing.T) {
	r := NewRing(1 << 20)
	aus := testGOPs(3, 10, time.Now().Add(-time.Minute))
	for _, au := range aus[:15] {
		r.WriteAccessUnit(au)
	}
	var got []*AccessUnit
	backlog, cancel := r.Subscribe(time.Now(), func(au *AccessUnit) { got = append(got, au) })
	for _, au := range aus[15:25] {
		r.WriteAccessUnit(au)
	}
	cancel()
	for _, au := range aus[25:] {
		r.WriteAccessUnit(au)
	}
	all := append(backlog, got...)
	if len(all) != 15 || all[0] != aus[10] || all[14] != aus[24] {
		t.Fatalf("backlog and live: %d units; want 15, seq 10 to 24 with nothing missed or repeated", len(all))
	}
	// A subscriber to an empty ring starts at the next keyframe.
	r2 := NewRing(1 << 20)
	got = nil
	backlog, cancel = r2.Subscribe(time.Now(), func(au *AccessUnit) { got = append(got, au) })
	defer cancel()
	for _, au := range aus[5:25] {
		r2.WriteAccessUnit(au)
	}
	if len(backlog) != 0 || len(got) != 15 || got[0] != aus[10] {
		t.Errorf("subscriber to an empty ring got %d units starting at seq %d; want 15 from the keyframe at 10", len(got), got[0].Seq)
	}
}

func TestAssembler(t *testing.T) {
	sps, pps := []byte{0x67, 0x42, 0xc0, 0x1f}, []byte{0x68, 0xce}
	idr0, idr1 := []byte{0x65, 0x88, 1}, []byte{0x65, 0x40, 2} // first_mb_in_slice 0, then not 0
	p0, p1 := []byte{0x41, 0x9a, 3}, []byte{0x41, 0x20, 4}
	aud, sei := []byte{0x09, 0xf0}, []byte{0x06, 0x05, 0x01}
	cases := []struct {
		name string
		in   [][]byte
		want [][]byte // NAL types of the units emitted
	}{
		{"with delimiters", [][]byte{aud, sps, pps, idr0, idr1, aud, p0, p1, aud, p0}, [][]byte{{7, 8, 5, 5}, {1, 1}}},
		{"without delimiters", [][]byte{sps, pps, sei, idr0, idr1, p0, p1, p0, sps, pps, idr0, p0}, [][]byte{{7, 8, 6, 5, 5}, {1, 1}, {1}, {7, 8, 5}}},
		{"IDR without SPS and PPS gets them", [][]byte{aud, sps, pps, idr0, aud, p0, aud, idr0, idr1, aud}, [][]byte{{7, 8, 5}, {1}, {7, 8, 5, 5}}},
		{"nothing before the first SPS is lost", [][]byte{p0, aud, sps, pps, idr0, aud}, [][]byte{{1}, {7, 8, 5}}},
	}
	for _, c := range cases {
		var got [][]byte
		a := assembler{emit: func(nalus [][]byte) {
			var ty []byte
			for _, n := range nalus {
				ty = append(ty, nalType(n))
			}
			got = append(got, ty)
		}}
		for _, n := range c.in {
			a.push(n)
		}
		if len(got) != len(c.want) {
			t.Errorf("%s: got units %v, want %v", c.name, got, c.want)
			continue
		}
		for i := range got {
			if !bytes.Equal(got[i], c.want[i]) {
				t.Errorf("%s: got units %v, want %v", c.name, got, c.want)
				break
			}
		}
	}
}

// packetReader hands out one RTP packet per Read, as a SOCK_SEQPACKET socket does.
type packetReader [][]byte

func (p *packetReader) Read(b []byte) (int, error) {
	if len(*p) == 0 {
		return 0, io.EOF
	}
	n := copy(b, (*p)[0])
	*p = (*p)[1:]
	return n, nil
}

// rtpPackets packetizes access units (NAL units each) as ffmpeg's rtp
// muxer does: the marker bit on each unit's last packet.
func rtpPackets(units [][][]byte, seq uint16) [][]byte {
	var out [][]byte
	var pay codecs.H264Payloader
	for i, nalus := range units {
		var payloads [][]byte
		for _, n := range nalus {
			payloads = append(payloads, pay.Payload(1200, n)...)
		}
		for j, p := range payloads {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: uint32(i * 3000),
				Marker: j == len(payloads)-1}, Payload: p}
			b, err := pkt.Marshal()
			if err != nil {
				panic(err)
			}
			out = append(out, b)
			seq++
		}
	}
	return out
}

func TestRTPAccessUnits(t *testing.T) {
	sps, pps := []byte{0x67, 0x42, 0xc0, 0x1f}, []byte{0x68, 0xce}
	bigIDR := append([]byte{0x65, 0x88}, bytes.Repeat([]byte{0xab}, 5000)...) // FU-A across five packets
	p0 := []byte{0x41, 0x9a, 0x01}
	rtcp := []byte{0x80, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	// SPS and PPS in one STAP-A packet, the IDR in five; the sequence
	// number wraps.
	pkts := append([][]byte{rtcp}, rtpPackets([][][]byte{{sps, pps, bigIDR}, {p0}, {p0}}, 65530)...)
	// The last picture is cut off before its marked packet: never emitted.
	pkts[len(pkts)-1][1] &^= 0x80

	var got []*AccessUnit
	var at []int // how many packets had been read when each unit came out
	r := packetReader(pkts)
	err := rtpAccessUnits(&r, func(nalus [][]byte) {
		got = append(got, NewAccessUnit(nalus, time.Time{}, 0))
		at = append(at, len(pkts)-len(r))
	})
	if err != io.EOF {
		t.Fatalf("error at the end = %v, want EOF", err)
	}
	if len(got) != 2 || !got[0].Keyframe || got[1].Keyframe || len(got[0].NALUs) != 3 || !bytes.Equal(got[0].NALUs[2], bigIDR) {
		t.Fatalf("got %d units: %+v", len(got), got)
	}
	// Each unit is out as soon as its marked packet is read.
	if want := []int{1 + 1 + 5, 1 + 1 + 5 + 1}; len(at) == 2 && at[0] != want[0] || at[1] != want[1] {
		t.Errorf("units out after packets %v, want %v", at, want)
	}

	// A lost packet is an error, not a broken picture.
	lost := rtpPackets([][][]byte{{sps, pps, bigIDR}, {p0}}, 1)
	lost = append(lost[:2], lost[3:]...)
	r = packetReader(lost)
	if err := rtpAccessUnits(&r, func([][]byte) {}); err == nil || !strings.Contains(err.Error(), "lost") {
		t.Errorf("lost packet: %v", err)
	}
	r = packetReader{[]byte("hello\n")}
	if err := rtpAccessUnits(&r, func([][]byte) {}); err == nil || err == io.EOF || !strings.Contains(err.Error(), "RTP") {
		t.Errorf("garbage: %v", err)
	}
}
