package stream

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
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
	talk := audiotest.OpusTone(b, 440, 0.6)

	var down, up, quiet []float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// door → phone
		seen := len(phone.packets())
		at := make(chan time.Time, 1)
		burst <- at
		start := <-at
		eventually(b, 5*time.Second, "the tone at the phone", func() bool {
			for _, pkt := range phone.packets()[seen:] {
				if len(pkt.Payload) > 40 {
					return true
				}
			}
			return false
		})
		var arrived time.Time
		phone.mu.Lock()
		for j := seen; j < len(phone.received); j++ {
			if len(phone.received[j].Payload) > 40 {
				arrived = phone.arrivals[j]
				break
			}
		}
		phone.mu.Unlock()
		down = append(down, float64(arrived.Sub(start).Microseconds())/1000)
		time.Sleep(400 * time.Millisecond) // the tone ends

		// phone → door
		for len(loud) > 0 {
			<-loud // a late one from the burst before
		}
		sent := time.Now()
		for j, pkt := range talk {
			if err := phone.mic.WriteSample(media.Sample{Data: pkt, Duration: 20 * time.Millisecond}); err != nil {
				b.Fatal(err)
			}
			if j == 0 {
				sent = time.Now()
			}
			time.Sleep(20 * time.Millisecond)
		}
		released := time.Now() // the last packet went 20 ms ago; the phone's button is up
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
// (as BenchmarkMouthToEar's): the benchmark writes the microphone's tone
// into one in real time and reads the speaker's sound from the other, so
// arecord and aplay wait for sound as they would on a card (ALSA's null
// device alone, which the tests use, spins). It reports arecord and
// aplay (from their exit records), all children, and this process, whose
// pion peer and sound card ends play the phone's and the card's part as
// well. Those goroutines carry the pprof label side=phone, so that a CPU
// profile splits this process's share between the doorbell and the test:
//
//	go test ./stream -run X -bench AudioCPU -benchtime 60x -cpuprofile cpu.prof
//	go tool pprof -tags stream.test cpu.prof
func BenchmarkAudioCPU(b *testing.B) {
	micFIFO, spkFIFO := fifoDevices(b)
	a, err := NewAudio(AudioConfig{Capture: "mic", Playback: "spk", Hold: time.Millisecond, Log: testLog(b)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(a.Close)
	p := startPipeline(b, pipelineConfig{audio: a, noEncoder: true})
	asPhone := func(f func()) {
		pprof.Do(context.Background(), pprof.Labels("side", "phone"), func(context.Context) { f() })
	}
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
	voice := audiotest.Speech(b) // a visitor speaks, again and again
	wg.Add(2)
	go asPhone(func() { // the microphone hears the voice, a period (20 ms) at a time
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for off := 0; ; off = (off + frameBytes) % len(voice) {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			if _, err := micF.Write(voice[off : off+frameBytes]); err != nil {
				return
			}
		}
	})
	var heard atomic.Int64
	go asPhone(func() { // the speaker's sound
		defer wg.Done()
		buf := make([]byte, 16384)
		for {
			n, err := spkF.Read(buf)
			if err != nil {
				return
			}
			heard.Add(int64(n))
		}
	})
	var phone *audioPeer
	asPhone(func() { phone = dialAudio(b, p.srv.URL+"/whep", true) })
	a.Allow(true)
	eventually(b, 15*time.Second, "the microphone live", func() bool { return len(phone.packets()) > 25 })
	talk := audiotest.OpusTone(b, 440, 1)

	var ru0, rc0, ru1, rc1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc0)
	mic0, spk0 := a.micCPU.Load(), a.speakerCPU.Load()
	encoded0, heard0 := a.Status().MicPackets, heard.Load()
	start := time.Now()
	b.ResetTimer()
	asPhone(func() {
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < b.N*50; i++ { // b.N seconds of talk
			<-tick.C
			if err := phone.mic.WriteSample(media.Sample{Data: talk[i%len(talk)], Duration: 20 * time.Millisecond}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	wall := time.Since(start)
	encoded, played := a.Status().MicPackets-encoded0, heard.Load()-heard0
	a.Close() // arecord and aplay exit and are waited for: their CPU counts
	b.ReportMetric(100*float64(a.micCPU.Load()-mic0)/float64(wall), "arecord-%core")
	b.ReportMetric(100*float64(a.speakerCPU.Load()-spk0)/float64(wall), "aplay-%core")
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	_ = syscall.Getrusage(syscall.RUSAGE_CHILDREN, &rc1)
	cpu := func(r syscall.Rusage) float64 { return float64(r.Utime.Nano() + r.Stime.Nano()) }
	b.ReportMetric(100*(cpu(rc1)-cpu(rc0))/float64(wall), "children-%core")
	b.ReportMetric(100*(cpu(ru1)-cpu(ru0))/float64(wall), "go-%core")
	b.ReportMetric(100*(cpu(ru1)-cpu(ru0)+cpu(rc1)-cpu(rc0))/float64(wall), "total-%core")
	// Both ways really ran, at about real time.
	if st := a.Status(); st.Played < uint64(b.N*40) {
		b.Errorf("the speaker played %d packets in %d s", st.Played, b.N)
	}
	if encoded < uint64(b.N*40) { // some muted while the speaker played (half duplex), but encoded
		b.Errorf("the microphone made %d packets in %d s", encoded, b.N)
	}
	if played < int64(b.N)*40*frameBytes {
		b.Errorf("the speaker's device got %d bytes in %d s", played, b.N)
	}
}

// BenchmarkOpusEncode: libopus encoding a voice (espeak-ng's) in 20 ms frames at
// a few complexities, as % of one core in real time (the CPU time per
// frame, of this thread, over 20 ms: other programs on the machine do
// not count): the figure opusComplexity is chosen by.
func BenchmarkOpusEncode(b *testing.B) {
	pcm := audiotest.Speech(b)
	for _, c := range []int{2, 5, 8, 10} {
		b.Run(fmt.Sprintf("complexity=%d", c), func(b *testing.B) {
			enc, err := newMicEncoder(c)
			if err != nil {
				b.Fatal(err)
			}
			cpu := threadCPU(b)
			for i := 0; i < b.N; i++ {
				off := (i * frameBytes) % len(pcm)
				if _, err := enc.encode(pcm[off : off+frameBytes]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(100*float64(cpu())/float64(b.N)/float64(20*time.Millisecond), "%core")
		})
	}
}

// BenchmarkOpusDecode: libopus decoding a phone's 20 ms packets for the
// speaker, as % of one core in real time.
func BenchmarkOpusDecode(b *testing.B) {
	pkts := audiotest.OpusTone(b, 440, 1)
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
	b.ReportMetric(100*float64(cpu())/float64(b.N)/float64(20*time.Millisecond), "%core")
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
