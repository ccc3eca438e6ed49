package stream

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"doorbell/internal/testkit/audiotest"
)

// recordingCard is a sound card whose speaker keeps what it plays.
type recordingCard struct {
	mu     sync.Mutex
	played bytes.Buffer
	writes int
}

func (c *recordingCard) Capture(ctx context.Context) (io.ReadCloser, error) {
	return DemoCard{}.Capture(ctx)
}

func (c *recordingCard) Playback(context.Context) (io.WriteCloser, error) { return c, nil }

func (c *recordingCard) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.played.Write(b)
}

func (c *recordingCard) Close() error { return nil }

func (c *recordingCard) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]byte(nil), c.played.Bytes()...)
}

// The speaker decodes a phone's Opus, fills in lost packets (FEC from the
// next packet, else concealment) so that the voice goes on without a
// hole, leaves a pause in the talk alone, and plays at the set volume.
func TestSpeakerConcealsLostPackets(t *testing.T) {
	card := &recordingCard{}
	a, err := NewAudio(AudioConfig{Playback: "spk", Card: card, Volume: 0.5, Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	a.mu.Lock()
	a.listeners = 1 // someone who could talk is connected: the player runs
	a.updateLocked()
	a.mu.Unlock()

	talk := audiotest.OpusTone(t, 440, 1, OpusFrame)
	send := func(i, lost int) { a.toSpeaker(talkPacket{payload: talk[i], at: time.Now(), lost: lost}) }
	for i := 0; i < 10; i++ {
		send(i, 0)
	}
	send(13, 3)                          // 10, 11 and 12 lost: filled in
	send(14, 0)                          // and on
	send(20, maxConcealed+1)             // a pause: not filled in
	lead := len(talkLead)                // the silence before talk
	want := lead + (10+4+1+1)*frameBytes // 16 packets' worth
	eventually(t, 5*time.Second, "the speaker playing every packet", func() bool { return len(card.bytes()) >= want })
	pcm := card.bytes()
	if len(pcm) != want {
		t.Errorf("the speaker played %d bytes, want %d (a lead of silence, then 16 packets, 3 of them filled in)", len(pcm), want)
	}
	if st := a.Status(); st.Played != 13 {
		t.Errorf("%d packets played, want the 13 that came", st.Played)
	}
	if audiotest.RMS(pcm[:lead]) != 0 {
		t.Error("the lead before talk is not silence")
	}
	pcm = pcm[lead:]
	filled := pcm[10*frameBytes : 13*frameBytes]
	if at, _ := audiotest.ToneShare(filled, 440, 1000); at < 0.5 {
		t.Errorf("the filled-in 3 packets: 440 Hz has %.2f of the power, want the voice going on", at)
	}
	full := audiotest.RMS(audiotest.DecodeOpus(t, talk[:10]))
	if r := audiotest.RMS(pcm[:10*frameBytes]) / full; r < 0.45 || r > 0.55 {
		t.Errorf("at volume 0.5 the speaker plays %.2f as loud as the phone sent", r)
	}
}
