// Package audiotest is what the doorbell's sound tests share: tones as
// PCM and as Opus, Goertzel's measure of a tone in what was heard, ALSA
// devices on files for programs that use real ALSA code paths without a
// sound card, and ffprobe's view of a file. Only tests import it.
package audiotest

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"gopkg.in/hraban/opus.v2"
)

// Rate is the sample rate of every sound here: 48 kHz, mono, s16le.
const Rate = 48000

// Tone is seconds of a hz sine at amplitude (0 to 1 of full scale), as PCM.
func Tone(hz, seconds, amplitude float64) []byte {
	n := int(seconds * Rate)
	pcm := make([]byte, 2*n)
	for i := range n {
		v := amplitude * math.MaxInt16 * math.Sin(2*math.Pi*hz*float64(i)/Rate)
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(v)))
	}
	return pcm
}

// OpusTone is seconds of a hz sine as Opus packets of frame each (20 ms,
// a browser's default; 40 ms, what the doorbell asks for), encoded by
// libopus as a phone or the doorbell would.
func OpusTone(t testing.TB, hz, seconds float64, frame time.Duration) [][]byte {
	t.Helper()
	enc, err := opus.NewEncoder(Rate, 1, opus.AppAudio)
	if err != nil {
		t.Fatal(err)
	}
	if err := enc.SetBitrate(48000); err != nil {
		t.Fatal(err)
	}
	pcm := Tone(hz, seconds, 0.5)
	samples := make([]int16, int(Rate*frame/time.Second))
	out := make([]byte, 1500)
	var pkts [][]byte
	for off := 0; off+2*len(samples) <= len(pcm); off += 2 * len(samples) {
		for i := range samples {
			samples[i] = int16(binary.LittleEndian.Uint16(pcm[off+2*i:]))
		}
		n, err := enc.Encode(samples, out)
		if err != nil {
			t.Fatal(err)
		}
		pkts = append(pkts, append([]byte(nil), out[:n]...))
	}
	return pkts
}

// DecodeOpus decodes Opus packets, in order, to PCM with libopus.
func DecodeOpus(t testing.TB, pkts [][]byte) []byte {
	t.Helper()
	dec, err := opus.NewDecoder(Rate, 1)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]int16, 6*Rate/50)
	var pcm []byte
	for i, p := range pkts {
		n, err := dec.Decode(p, buf)
		if err != nil {
			t.Fatalf("packet %d of %d (%d bytes) is not Opus: %v", i, len(pkts), len(p), err)
		}
		for _, v := range buf[:n] {
			pcm = binary.LittleEndian.AppendUint16(pcm, uint16(v))
		}
	}
	return pcm
}

// Goertzel is the share of pcm's power at hz, over the whole of it. It
// sums 100 ms blocks, each measured alone: a loaded machine's gap or
// jump in the sound (a late packet, a concealed one) shifts the tone's
// phase, which one measure over the whole would take for a lack of the
// tone. Every frequency tested here has a whole number of cycles in a
// block. A last block shorter than half of one is left out.
func Goertzel(pcm []byte, hz float64) float64 {
	const block = Rate / 10
	samples := len(pcm) / 2
	coeff := 2 * math.Cos(2*math.Pi*hz/Rate)
	var tone, total float64
	for start := 0; start < samples; start += block {
		n := min(block, samples-start)
		if n < block/2 && start > 0 {
			break
		}
		var s1, s2, power float64
		for i := start; i < start+n; i++ {
			x := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
			power += x * x
			s0 := x + coeff*s1 - s2
			s2, s1 = s1, s0
		}
		tone += (s1*s1 + s2*s2 - coeff*s1*s2) / (float64(n) / 2)
		total += power
	}
	if total == 0 {
		return 0
	}
	return tone / total
}

// ToneShare is the share of pcm's power at hz, and the largest share at
// any of a few frequencies around it (and at other, 0 for none): a
// clear tone has a good share and many times its neighbours'.
func ToneShare(pcm []byte, hz, other float64) (at, worst float64) {
	for _, f := range []float64{hz / 2, hz * 0.7, hz * 1.4, hz * 2.3, other} {
		if f > 0 && f != hz {
			worst = max(worst, Goertzel(pcm, f))
		}
	}
	return Goertzel(pcm, hz), worst
}

// RMS is pcm's loudness.
func RMS(pcm []byte) float64 {
	var sum float64
	n := len(pcm) / 2
	for i := range n {
		x := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
		sum += x * x
	}
	return math.Sqrt(sum / math.Max(1, float64(n)))
}

// Loud is pcm from its first loud sample to its last (nil if none is).
func Loud(pcm []byte) []byte {
	first, last := -1, -1
	for i := 0; i+1 < len(pcm); i += 2 {
		if v := int16(binary.LittleEndian.Uint16(pcm[i:])); v > 500 || v < -500 {
			if first < 0 {
				first = i
			}
			last = i
		}
	}
	if first < 0 {
		return nil
	}
	return pcm[first : last+2]
}

// FileALSA writes an asoundrc, and points HOME at it for the programs
// the test starts (arecord, aplay), whose device "mic" hears a steady
// micHz tone and whose device "spk" plays into the Speaker it returns:
// ALSA's real code paths, through its file plugin, with no sound card.
// The microphone reads a FIFO that the test writes in real time, 20 ms
// at a time, as a card's clock would deliver it (a plain file would let
// arecord read as fast as it can: ALSA's null device does not wait).
// What nobody reads is lost, as a card's capture overruns. ALSA's file
// plugin reads the FIFO a period at a time and takes what is there, so
// the program must capture 20 ms periods (arecord --period-time=20000,
// as the doorbell's does): then each read is one write.
func FileALSA(t testing.TB, micHz float64) *Speaker {
	t.Helper()
	dir := t.TempDir()
	mic := filepath.Join(dir, "mic.fifo")
	fd := openFIFO(t, mic)
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETPIPE_SZ, 16384); err != nil { // 85 ms, about the buffer the doorbell asks of a card
		t.Fatal(err)
	}
	const period = Rate / 50
	buf := make([]byte, 2*period)
	start, n := time.Now(), 0
	everyTick(t, 20*time.Millisecond, func() {
		for due := int(time.Since(start) * Rate / time.Second); n+period <= due; n += period {
			for i := range period {
				v := 0.125 * math.MaxInt16 * math.Sin(2*math.Pi*micHz*float64(n+i)/Rate)
				binary.LittleEndian.PutUint16(buf[2*i:], uint16(int16(v)))
			}
			_, _ = syscall.Write(fd, buf) // EAGAIN: nobody reads; the sound is lost
		}
	})
	spk := newSpeaker(t, filepath.Join(dir, "speaker.fifo"))
	rc := fmt.Sprintf("pcm.mic { type file; slave.pcm \"null\"; file \"/dev/null\"; infile %q; format \"raw\" }\npcm.spk { type file; slave.pcm \"null\"; file %q; format \"raw\" }\n",
		mic, spk.fifo)
	if err := os.WriteFile(filepath.Join(dir, ".asoundrc"), []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", dir)
	return spk
}

// Speaker is what FileALSA's "spk" device has played, from every program
// that opened it in turn. ALSA's file plugin writes into a FIFO that the
// Speaker keeps draining: a plain file would be truncated each time a
// program opens the device, losing what the one before had played.
type Speaker struct {
	fifo string
	mu   sync.Mutex
	fd   int // the FIFO, read and write, non-blocking: it never sees EOF
	buf  []byte
	got  []byte
}

func newSpeaker(t testing.TB, fifo string) *Speaker {
	t.Helper()
	s := &Speaker{fifo: fifo, fd: openFIFO(t, fifo), buf: make([]byte, 64<<10)}
	everyTick(t, 5*time.Millisecond, func() { // a program writing faster than real time waits only for this
		s.mu.Lock()
		s.drainLocked()
		s.mu.Unlock()
	})
	return s
}

// openFIFO makes a FIFO at path and opens it read-write and non-blocking,
// so that neither end ever waits for the other to open; the test's end
// closes when the test ends.
func openFIFO(t testing.TB, path string) int {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	return fd
}

// everyTick runs f every d until the test ends, and waits for its last run
// (before what was cleaned up earlier, such as openFIFO's descriptor).
func everyTick(t testing.TB, d time.Duration, f func()) {
	stop, stopped := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() {
		close(stop)
		<-stopped
	})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(d)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				f()
			}
		}
	}()
}

func (s *Speaker) drainLocked() {
	for {
		n, err := syscall.Read(s.fd, s.buf)
		if n <= 0 || err != nil {
			return // EAGAIN: the FIFO is empty
		}
		s.got = append(s.got, s.buf[:n]...)
	}
}

// Played is everything played since the start or the last Reset. What a
// program that has exited wrote is all there.
func (s *Speaker) Played() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked()
	return bytes.Clone(s.got)
}

// Reset forgets what was played so far.
func (s *Speaker) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drainLocked()
	s.got = nil
}

// Stream is ffprobe's view of one stream of a file.
type Stream struct {
	Type, Codec   string
	Width, Height int
	// Start and End are in seconds of the file; End is 0 if ffprobe
	// gives no duration.
	Start, End float64
	Frames     int // decoded, with CountFrames
}

// Probe is ffprobe's view of a file: its streams, and its duration in
// seconds. countFrames decodes every frame to count them.
func Probe(t testing.TB, path string, countFrames bool) ([]Stream, float64) {
	t.Helper()
	args := []string{"-v", "error", "-show_entries",
		"stream=codec_type,codec_name,width,height,duration,start_time,nb_read_frames:format=duration", "-of", "json", path}
	if countFrames {
		args = append([]string{"-count_frames"}, args...)
	}
	out, err := exec.Command("ffprobe", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe %s: %v\n%s", path, err, out)
	}
	var p struct {
		Streams []struct {
			CodecType string `json:"codec_type"`
			CodecName string `json:"codec_name"`
			Width     int    `json:"width"`
			Height    int    `json:"height"`
			Duration  string `json:"duration"`
			Start     string `json:"start_time"`
			NbFrames  string `json:"nb_read_frames"`
		} `json:"streams"`
		Format struct {
			Duration string `json:"duration"`
		} `json:"format"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("ffprobe's output: %v\n%s", err, out)
	}
	d, err := strconv.ParseFloat(p.Format.Duration, 64)
	if err != nil {
		t.Fatalf("ffprobe gives %s no duration: %s", path, out)
	}
	var streams []Stream
	for _, s := range p.Streams {
		st := Stream{Type: s.CodecType, Codec: s.CodecName, Width: s.Width, Height: s.Height}
		st.Start, _ = strconv.ParseFloat(s.Start, 64)
		if dur, err := strconv.ParseFloat(s.Duration, 64); err == nil {
			st.End = st.Start + dur
		}
		st.Frames, _ = strconv.Atoi(s.NbFrames)
		streams = append(streams, st)
	}
	return streams, d
}

// DecodeSound is the first audio stream of the file at path, decoded by
// ffmpeg to PCM.
func DecodeSound(t testing.TB, path string) []byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", path, "-map", "0:a:0", "-f", "s16le", "-ac", "1", "-ar", strconv.Itoa(Rate), "pipe:1").Output()
	if err != nil {
		t.Fatalf("decoding the sound of %s: %v", path, err)
	}
	return out
}

// Speech is a few seconds of a synthetic voice (espeak-ng) as PCM: what
// a microphone at the door hears, for figures that depend on the sound.
func Speech(t testing.TB) []byte {
	t.Helper()
	wav, err := exec.Command("espeak-ng", "-v", "en", "--stdout",
		"Hello, I have a parcel for you. Shall I leave it at the door, or will you come down and sign for it?").Output()
	if err != nil {
		t.Fatalf("espeak-ng: %v", err)
	}
	cmd := exec.Command("ffmpeg", "-v", "error", "-f", "wav", "-i", "pipe:0", "-f", "s16le", "-ac", "1", "-ar", strconv.Itoa(Rate), "pipe:1")
	cmd.Stdin = bytes.NewReader(wav)
	pcm, err := cmd.Output()
	if err != nil {
		t.Fatalf("resampling espeak-ng's voice: %v", err)
	}
	return pcm[:len(pcm)/(2*Rate/25)*(2*Rate/25)] // whole 40 ms frames (so whole 20 ms ones too)
}
