package audiotest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Goertzel finds a tone over the whole of a sound, gaps and jumps in its
// phase included (a loaded machine's), and not one that is absent.
func TestGoertzel(t *testing.T) {
	for _, hz := range []float64{440, 550, 660, 1000} {
		if p := Goertzel(Tone(hz, 1.03, 0.5), hz); p < 0.95 {
			t.Errorf("%g Hz has %.2f of its own tone's power", hz, p)
		}
	}
	a, b := Tone(440, 0.5, 0.5), Tone(440, 0.5013, 0.5)[2*37:] // a jump in phase
	jumpy := append(append(append([]byte{}, a...), make([]byte, 4800)...), b...)
	if at, worst := ToneShare(jumpy, 440, 1000); at < 0.9 || worst > 0.01 {
		t.Errorf("440 Hz with a gap and a jump: %.2f of the power, its neighbours %.3f", at, worst)
	}
	if p := Goertzel(Tone(1000, 1, 0.5), 440); p > 0.001 {
		t.Errorf("440 Hz has %.3f of a 1 kHz tone's power", p)
	}
	if Goertzel(nil, 440) != 0 || Goertzel(make([]byte, 9600), 440) != 0 {
		t.Error("silence has a tone")
	}
}

// A tone encoded by libopus decodes back to the tone, and ffprobe sees
// the Ogg file it makes.
func TestOpusToneRoundTrip(t *testing.T) {
	pkts := OpusTone(t, 440, 1, 20*time.Millisecond)
	if len(pkts) != 50 {
		t.Fatalf("%d packets for 1 s, want 50", len(pkts))
	}
	pcm := DecodeOpus(t, pkts)
	if len(pcm) != 2*Rate {
		t.Errorf("%d bytes decoded, want %d", len(pcm), 2*Rate)
	}
	if at, worst := ToneShare(Loud(pcm), 440, 1000); at < 0.9 || worst > 0.01 {
		t.Errorf("decoded: 440 Hz has %.2f of the power, its neighbours %.3f", at, worst)
	}
	if rms := RMS(pcm); rms < 5000 || rms > 15000 {
		t.Errorf("decoded RMS %.0f, want about %.0f", rms, 0.5*32767/1.414)
	}
}

// FileALSA's devices are ALSA's: arecord hears the tone, in real time,
// and what aplay plays lands in the file.
func TestFileALSA(t *testing.T) {
	speaker := FileALSA(t, 1000)
	wav := filepath.Join(t.TempDir(), "heard.raw")
	started := time.Now()
	run(t, "arecord", "-q", "-D", "mic", "-t", "raw", "-f", "S16_LE", "-r", "48000", "-c", "1", "-d", "1",
		"--buffer-time=80000", "--period-time=20000", wav)
	if took := time.Since(started); took < 900*time.Millisecond {
		t.Errorf("arecord heard a second of sound in %v: the microphone is not real time", took)
	}
	heard, err := os.ReadFile(wav)
	if err != nil {
		t.Fatal(err)
	}
	if p := Goertzel(heard, 1000); len(heard) < Rate || p < 0.95 {
		t.Errorf("arecord heard %d bytes, 1 kHz %.2f of them", len(heard), p)
	}
	in := filepath.Join(t.TempDir(), "tone.raw")
	if err := os.WriteFile(in, Tone(440, 0.5, 0.3), 0o600); err != nil {
		t.Fatal(err)
	}
	run(t, "aplay", "-q", "-D", "spk", "-t", "raw", "-f", "S16_LE", "-r", "48000", "-c", "1", in)
	played := speaker.Played()
	if p := Goertzel(played, 440); len(played) < Rate/2 || p < 0.95 {
		t.Errorf("the speaker played %d bytes, 440 Hz %.2f of them", len(played), p)
	}
}

func run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
}
