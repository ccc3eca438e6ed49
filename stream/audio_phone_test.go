package stream

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
	"golang.org/x/sys/unix"
)

// benchPhoneEnv, set, makes the test binary the phone and the sound
// card's far ends of BenchmarkAudioCPU, in a process of its own, so that
// the doorbell's CPU (the benchmark's process, arecord and aplay) is
// counted apart from the test's. Its value is a directory with the
// microphone's and the speaker's FIFOs (mic, spk), the voice the
// microphone hears (voice.pcm) and the talk the phone sends (talk.opus,
// length-prefixed packets), and the WHEP URL (whep.url).
const benchPhoneEnv = "DOORBELL_BENCH_PHONE"

// runBenchPhone is the phone. It writes the voice into the microphone's
// FIFO in real time and reads the speaker's; it watches and listens; once
// the doorbell's sound arrives it prints "ready CPU"; told "talk" on its
// stdin it prints "talking CPU" and talks without a pause until its stdin
// closes; then it prints "CPU received heard" (CPU:
// its own CPU time so far, in ns; received: the doorbell's packets;
// heard: bytes the speaker played).
func runBenchPhone(dir string) error {
	read := func(name string) ([]byte, error) { return os.ReadFile(dir + "/" + name) }
	voice, err := read("voice.pcm")
	if err != nil {
		return err
	}
	talkFile, err := read("talk.opus")
	if err != nil {
		return err
	}
	var talk [][]byte
	for len(talkFile) >= 2 {
		n := int(binary.BigEndian.Uint16(talkFile))
		talk, talkFile = append(talk, talkFile[2:2+n]), talkFile[2+n:]
	}
	url, err := read("whep.url")
	if err != nil {
		return err
	}
	// The microphone's FIFO holds 16 KiB (85 ms, about the buffer the
	// doorbell asks of a card), and what does not fit is lost, as a sound
	// card's capture overruns while nobody reads it: a microphone started
	// again hears the present, not a backlog.
	mic, err := syscall.Open(dir+"/mic", syscall.O_RDWR|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer syscall.Close(mic)
	if _, err := unix.FcntlInt(uintptr(mic), unix.F_SETPIPE_SZ, 16384); err != nil {
		return err
	}
	spk, err := os.OpenFile(dir+"/spk", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer spk.Close()
	go func() { // the microphone hears the voice in real time, a period (OpusFrame) at a time
		everyFrame(nil, func(i int) bool {
			off := (i % (len(voice) / frameBytes)) * frameBytes
			_, err := syscall.Write(mic, voice[off:off+frameBytes])
			return err == nil || errors.Is(err, syscall.EAGAIN)
		})
	}()
	var heard atomic.Int64
	go func() {
		buf := make([]byte, 16384)
		for {
			n, err := spk.Read(buf)
			if err != nil {
				return
			}
			heard.Add(int64(n))
		}
	}()

	pc, err := clientAPI().NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		return err
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "mic", "phone")
	if err != nil {
		return err
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		return err
	}
	var received atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeAudio {
				received.Add(1)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return err
	}
	<-gathered
	status, _, body, err := post(string(url), "good-token", "application/sdp", pc.LocalDescription().SDP)
	if err != nil || status != http.StatusCreated {
		return fmt.Errorf("WHEP: %d %s %v", status, body, err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: body}); err != nil {
		return err
	}
	// The phone's packets are as long as the answer asks, as a browser's.
	if want := fmt.Sprintf("a=ptime:%d\r\n", OpusFrame.Milliseconds()); !strings.Contains(body, want) {
		return fmt.Errorf("the answer does not ask for %s packets (%q):\n%s", OpusFrame, want, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for received.Load() < 25 {
		if time.Now().After(deadline) {
			return errors.New("no sound from the doorbell within 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %d\n", ownCPU())
	out.Flush()
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil { // "talk"
		return err
	}
	fmt.Fprintf(out, "talking %d\n", ownCPU())
	out.Flush()
	stop := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, in); close(stop) }()
	var sendErr error
	everyFrame(stop, func(i int) bool {
		sendErr = track.WriteSample(media.Sample{Data: talk[i%len(talk)], Duration: OpusFrame})
		return sendErr == nil
	})
	if sendErr != nil {
		return sendErr
	}
	fmt.Fprintf(out, "%d %d %d\n", ownCPU(), received.Load(), heard.Load())
	return out.Flush()
}

// everyFrame calls f(0), f(1), ... in real time, one each OpusFrame from
// now, catching up after a late wake (as a sound card's clock does),
// until f returns false or stop is closed.
func everyFrame(stop <-chan struct{}, f func(i int) bool) {
	start := time.Now()
	tick := time.NewTicker(OpusFrame)
	defer tick.Stop()
	for i := 0; ; {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		for due := int(time.Since(start) / OpusFrame); i < due; i++ {
			if !f(i) {
				return
			}
		}
	}
}

// ownCPU is this process's CPU time, user and system, in ns.
func ownCPU() int64 {
	var r syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r)
	return r.Utime.Nano() + r.Stime.Nano()
}
