package stream

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4/pkg/media"

	"doorbell/internal/testkit/audiotest"
)

// fifoDevices writes an asoundrc whose "mic" reads a FIFO that the
// benchmark writes in real time, and whose "spk" writes to a FIFO that it
// reads: sound goes into and comes out of ALSA at known moments.
func fifoDevices(b *testing.B) (micFIFO, spkFIFO string) {
	b.Helper()
	dir := b.TempDir()
	micFIFO, spkFIFO = filepath.Join(dir, "mic"), filepath.Join(dir, "spk")
	for _, p := range []string{micFIFO, spkFIFO} {
		if err := syscall.Mkfifo(p, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	rc := fmt.Sprintf(`pcm.mic { type file; slave.pcm "null"; file "/dev/null"; infile %q; format "raw" }
pcm.spk { type file; slave.pcm "null"; file %q; format "raw" }
`, micFIFO, spkFIFO)
	if err := os.WriteFile(filepath.Join(dir, ".asoundrc"), []byte(rc), 0o600); err != nil {
		b.Fatal(err)
	}
	b.Setenv("HOME", dir)
	return micFIFO, spkFIFO
}

// tone10ms is 10 ms of a 1 kHz tone (or silence), 48 kHz s16le mono.
func tone10ms(on bool) []byte {
	buf := make([]byte, 960)
	if on {
		for i := 0; i < 480; i++ {
			binary.LittleEndian.PutUint16(buf[2*i:], uint16(int16(12000*math.Sin(2*math.Pi*1000*float64(i)/48000))))
		}
	}
	return buf
}

func p50(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// BenchmarkMouthToEar measures each way on loopback, p50 over b.N bursts:
//
//   - door→phone: from a tone's first sample entering ALSA's capture (the
//     FIFO the microphone reads) to the first loud Opus packet at the
//     phone (a pion peer). The phone's jitter buffer and decoding, in a
//     browser about 20–60 ms, are not included.
//   - release: from the phone's last packet of talk to the speaker's last
//     loud sample (p50 and the worst).
//   - phone→door: from the phone's first packet of talk (hold-to-talk
//     pressed) to its first loud sample leaving ALSA's playback (the FIFO
//     the speaker writes). The phone's capture and encoding, and the
//     speaker's hardware buffer, are not included.
//
// BenchmarkAudioCPU gives the CPU figure.
func BenchmarkMouthToEar(b *testing.B) {
	micFIFO, spkFIFO := fifoDevices(b)
	a, err := NewAudio(AudioConfig{Capture: "mic", Playback: "spk", Hold: time.Millisecond, Log: testLog(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	p := startPipeline(b, pipelineConfig{audio: a, noEncoder: true})

	// The microphone: silence in real time, a burst of tone on request.
	burst := make(chan chan time.Time)
	// Both FIFOs are opened read-write: the open does not wait for ALSA,
	// and ALSA's closing and opening them again never ends the benchmark's side.
	micF, err := os.OpenFile(micFIFO, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	spkF, err := os.OpenFile(spkFIFO, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stop)
		micF.Close()
		spkF.Close()
		wg.Wait()
	}()
	wg.Add(2)
	go func() {
		defer wg.Done()
		f := micF
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		toneLeft := 0
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			select {
			case at := <-burst:
				toneLeft = 30
				at <- time.Now()
			default:
			}
			if _, err := f.Write(tone10ms(toneLeft > 0)); err != nil {
				return
			}
			if toneLeft > 0 {
				toneLeft--
			}
		}
	}()
	// The speaker: the first loud sample after a quiet spell (each burst).
	loud := make(chan time.Time, 16)
	var lastLoudAt atomic.Int64 // the speaker's last loud sample
	go func() {
		defer wg.Done()
		var lastLoud time.Time
		buf := make([]byte, 4096)
		for {
			n, err := spkF.Read(buf)
			if err != nil {
				return
			}
			now := time.Now()
			for i := 0; i+1 < n; i += 2 {
				if v := int16(binary.LittleEndian.Uint16(buf[i:])); v > 1000 || v < -1000 {
					if now.Sub(lastLoud) > 200*time.Millisecond {
						select {
						case loud <- now:
						default:
						}
					}
					lastLoud = now
					lastLoudAt.Store(now.UnixNano())
					break
				}
			}
		}
	}()

	phone := dialAudio(b, p.srv.URL+"/whep", true)
	a.Allow(true)
	eventually(b, 15*time.Second, "the microphone live", func() bool { return len(phone.packets()) > 25 })
	talk := audiotest.OpusTone(b, 440, 0.6, OpusFrame)

	var down, up, quiet []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// door → phone
		seen := len(phone.packets())
		at := make(chan time.Time, 1)
		burst <- at
		start := <-at
		// The first packet of the tone: decoded, as the phone would (a
		// quiet packet is not always small: FEC).
		loudAt := func() int {
			pkts := phone.packets()[seen:]
			pcm := audiotest.DecodeOpus(b, payloads(pkts))
			for i := 0; i+1 < len(pcm); i += 2 {
				if v := int16(binary.LittleEndian.Uint16(pcm[i:])); v > 2000 || v < -2000 {
					return seen + i/frameBytes // every packet is OpusFrame
				}
			}
			return -1
		}
		eventually(b, 5*time.Second, "the tone at the phone", func() bool { return loudAt() >= 0 })
		j := loudAt()
		phone.mu.Lock()
		arrived := phone.arrivals[j]
		phone.mu.Unlock()
		down = append(down, float64(arrived.Sub(start).Microseconds())/1000)
		time.Sleep(400 * time.Millisecond) // the tone ends

		// phone → door
		for len(loud) > 0 {
			<-loud // a late one from the burst before
		}
		sent := time.Now()
		for j, pkt := range talk {
			if err := phone.mic.WriteSample(media.Sample{Data: pkt, Duration: OpusFrame}); err != nil {
				b.Fatal(err)
			}
			if j == 0 {
				sent = time.Now()
			}
			time.Sleep(OpusFrame)
		}
		released := time.Now() // the last packet went a packet ago; the phone's button is up
		select {
		case heard := <-loud:
			up = append(up, float64(heard.Sub(sent).Microseconds())/1000)
		case <-time.After(5 * time.Second):
			b.Fatalf("the speaker played nothing loud: %+v", a.Status())
		}
		eventually(b, 5*time.Second, "the speaker stopping", func() bool { return a.Status().Talking == 0 })
		eventually(b, 5*time.Second, "the speaker quiet", func() bool {
			return time.Since(time.Unix(0, lastLoudAt.Load())) > 300*time.Millisecond
		})
		quiet = append(quiet, float64(time.Unix(0, lastLoudAt.Load()).Sub(released).Microseconds())/1000)
	}
	b.StopTimer()
	b.ReportMetric(p50(down), "door-to-phone-p50-ms")
	b.ReportMetric(p50(up), "phone-to-door-p50-ms")
	b.ReportMetric(p50(quiet), "release-to-quiet-p50-ms")
	b.ReportMetric(slices.Max(quiet), "release-to-quiet-max-ms")
}

// BenchmarkAudioCPU: the CPU of two-way audio, as % of one core, while the
// doorbell's microphone streams to a phone and the phone talks without a
// pause, for b.N seconds. The sound card is ALSA's file plugin on FIFOs
// (as BenchmarkMouthToEar's): a voice is written into one in real time
// and the speaker's sound read from the other, so arecord and aplay wait
// for sound as they would on a card (ALSA's null device alone, which the
// tests use, spins). The phone and the FIFOs' far ends are another
// process (the test binary again: runBenchPhone), so what this process
// uses is the doorbell's own. It reports the doorbell: this process
// (doorbell-go: Opus, WebRTC, the hub) and arecord and aplay (from their
// exit records), and their sum (doorbell); and the test phone apart
// (phone, not the doorbell's). audio is the doorbell's less a baseline:
// the same session with its sound off.
//
//   - on-video: the figure, audio on top of video. The phone
//     also watches (320×240 at 30 fps), and the baseline is that video.
//     The x264 encoder is a process of its own and not counted; the
//     hub's sending is.
//   - alone: no video at all, as a doorbell would be if only listened to.
//
// A CPU profile shows where doorbell-go goes:
//
//	go test ./stream -run X -bench AudioCPU/alone -benchtime 60x -cpuprofile cpu.prof
//	go tool pprof -top stream.test cpu.prof
func BenchmarkAudioCPU(b *testing.B) {
	b.Run("on-video", func(b *testing.B) { benchAudioCPU(b, true) })
	b.Run("alone", func(b *testing.B) { benchAudioCPU(b, false) })
}

func benchAudioCPU(b *testing.B, video bool) {
	if c := os.Getenv("DOORBELL_OPUS_COMPLEXITY"); c != "" { // the figure at another complexity
		n, err := strconv.Atoi(c)
		if err != nil {
			b.Fatalf("DOORBELL_OPUS_COMPLEXITY=%q: %v", c, err)
		}
		defer func(c int) { micComplexity = c }(micComplexity)
		micComplexity = n
	}
	micFIFO, _ := fifoDevices(b)
	dir := filepath.Dir(micFIFO)
	a, err := NewAudio(AudioConfig{Capture: "mic", Playback: "spk", Hold: time.Millisecond, Log: testLog(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	p := startPipeline(b, pipelineConfig{audio: a, noEncoder: !video})
	var talk []byte
	for _, pkt := range audiotest.OpusTone(b, 440, 1, OpusFrame) {
		talk = append(binary.BigEndian.AppendUint16(talk, uint16(len(pkt))), pkt...)
	}
	for name, data := range map[string][]byte{"voice.pcm": audiotest.Speech(b), "talk.opus": talk, "whep.url": []byte(p.srv.URL + "/whep")} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			b.Fatal(err)
		}
	}
	a.Allow(true)
	phone := exec.Command(os.Args[0], "-test.run=^$")
	phone.Env = append(os.Environ(), benchPhoneEnv+"="+dir)
	phone.Stderr = os.Stderr
	stdin, err := phone.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := phone.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := phone.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = phone.Process.Kill(); _ = phone.Wait() }()
	lines := bufio.NewScanner(stdout)
	phoneSays := func(format string, v ...any) {
		b.Helper()
		if !lines.Scan() {
			b.Fatalf("the phone stopped: %v", lines.Err())
		}
		if _, err := fmt.Sscanf(lines.Text(), format, v...); err != nil {
			b.Fatalf("the phone says %q: %v", lines.Text(), err)
		}
	}
	var phoneCPU0, phoneCPU1, received, heard int64
	phoneSays("ready %d", &phoneCPU0)
	doorbellCPU := func() (self, arecord, aplay time.Duration) {
		var r syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
		return time.Duration(r.Utime.Nano() + r.Stime.Nano()), time.Duration(a.micCPU.Load()), time.Duration(a.speakerCPU.Load())
	}

	// The baseline: the same session, with its sound off (the microphone
	// stopped, the phone silent), as a viewer watching video has it.
	a.Allow(false)
	eventually(b, 10*time.Second, "the microphone off", func() bool { return !a.Live() })
	<-time.After(time.Second) // the microphone's program stopping, and the start's garbage
	runtime.GC()
	idle := 10 * time.Second
	if video {
		idle = 15 * time.Second // the video's CPU varies more than silence's
	}
	self0, _, _ := doorbellCPU()
	<-time.After(idle)
	self1, _, _ := doorbellCPU()
	baseline := 100 * float64(self1-self0) / float64(idle)

	a.Allow(true)
	eventually(b, 10*time.Second, "the microphone live again", func() bool { return a.Live() })
	if _, err := io.WriteString(stdin, "talk\n"); err != nil {
		b.Fatal(err)
	}
	phoneSays("talking %d", &phoneCPU0)
	self0, mic0, spk0 := doorbellCPU()
	st0 := a.Status()
	start := time.Now()
	b.ResetTimer()
	<-time.After(time.Duration(b.N) * time.Second) // the measured time: b.N seconds of two-way sound
	b.StopTimer()
	self1, _, _ = doorbellCPU()
	wall := time.Since(start)
	st1 := a.Status()
	_ = stdin.Close()
	phoneSays("%d %d %d", &phoneCPU1, &received, &heard)
	a.Close() // arecord and aplay exit and are waited for: their CPU counts
	_, mic1, spk1 := doorbellCPU()
	pct := func(d time.Duration) float64 { return 100 * float64(d) / float64(wall) }
	arecord, aplay, self := pct(mic1-mic0), pct(spk1-spk0), pct(self1-self0)
	b.ReportMetric(arecord, "arecord-%core")
	b.ReportMetric(aplay, "aplay-%core")
	b.ReportMetric(self, "doorbell-go-%core")
	b.ReportMetric(arecord+aplay+self, "doorbell-%core")
	b.ReportMetric(baseline, "baseline-%core")
	b.ReportMetric(arecord+aplay+self-baseline, "audio-%core")
	b.ReportMetric(pct(time.Duration(phoneCPU1-phoneCPU0)), "phone-%core")
	b.ReportMetric(float64(st1.Played-st0.Played)/wall.Seconds(), "played/s")
	b.ReportMetric(float64(st1.MicPackets-st0.MicPackets)/wall.Seconds(), "encoded/s")
	// Both ways really ran, at about real time: 80 % of it, less a second
	// for the start (b.N is 1 in the benchmark's first round).
	perSecond := uint64(time.Second / OpusFrame)
	secs := uint64(b.N - 1)
	if played := st1.Played - st0.Played; played < secs*perSecond*4/5 {
		b.Errorf("the speaker played %d packets in %d s", played, b.N)
	}
	if encoded := st1.MicPackets - st0.MicPackets; encoded < secs*perSecond*4/5 { // some muted while the speaker played (half duplex), but encoded
		b.Errorf("the microphone made %d packets in %d s", encoded, b.N)
	}
	if heard < int64(secs)*2*sampleRate*4/5 || received < int64(secs*perSecond*3/5) {
		b.Errorf("the phone received %d packets and the speaker played %d bytes in %d s", received, heard, b.N)
	}
}

// BenchmarkOpusEncode: libopus encoding a voice (espeak-ng's) in OpusFrame frames at
// a few complexities, as % of one core in real time (the CPU time per
// frame, of this thread, over OpusFrame: other programs on the machine do
// not count): the figure opusComplexity is chosen by.
func BenchmarkOpusEncode(b *testing.B) {
	pcm := audiotest.Speech(b)
	for _, c := range []int{2, 3, 4, 5, 8, 10} {
		b.Run(fmt.Sprintf("complexity=%d", c), func(b *testing.B) {
			enc, err := newMicEncoder(c)
			if err != nil {
				b.Fatal(err)
			}
			cpu := threadCPU(b)
			for i := 0; i < b.N; i++ {
				off := (i % (len(pcm) / frameBytes)) * frameBytes
				if _, err := enc.encode(pcm[off : off+frameBytes]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100*float64(cpu())/float64(b.N)/float64(OpusFrame), "%core")
		})
	}
}

// BenchmarkOpusDecode: libopus decoding a phone's packets (OpusFrame)
// for the speaker, as % of one core in real time.
func BenchmarkOpusDecode(b *testing.B) {
	pkts := audiotest.OpusTone(b, 440, 1, OpusFrame)
	dec, err := newSpeakerDecoder(0.8)
	if err != nil {
		b.Fatal(err)
	}
	cpu := threadCPU(b)
	for i := 0; i < b.N; i++ {
		if _, err := dec.decode(pkts[i%len(pkts)]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(100*float64(cpu())/float64(b.N)/float64(OpusFrame), "%core")
}

// threadCPU locks the benchmark to its thread and resets its timer; the
// function it returns is the thread's CPU time since.
func threadCPU(b *testing.B) func() time.Duration {
	runtime.LockOSThread()
	b.Cleanup(runtime.UnlockOSThread)
	var r0 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &r0)
	b.ResetTimer()
	return func() time.Duration {
		var r syscall.Rusage
		_ = syscall.Getrusage(syscall.RUSAGE_THREAD, &r)
		return time.Duration(r.Utime.Nano() + r.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	}
}
