package daemon

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"doorbell/config"
	"doorbell/internal/testkit"
	"doorbell/stream"
)

// The daemon encodes the camera, reports it in /healthz and /metrics, and
// serves WHEP, refusing viewers without a valid token.
func TestDaemonStreams(t *testing.T) {
	cfg := config.Defaults()
	cfg.Camera.Width, cfg.Camera.Height, cfg.Camera.FPS = 320, 240, 20
	_, addr, stop := started(t, cfg)
	defer stop()
	var h struct {
		Stream struct {
			Encoder stream.EncoderStatus
			Viewers stream.HubStatus
			Ring    stream.RingStatus
		}
	}
	testkit.EventuallyNil(t, 30*time.Second, "/healthz to show the encoder running with a keyframe", func() error {
		resp, err := insecure.Get("https://" + addr + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return err
		}
		if h.Stream.Encoder.State != "running" || h.Stream.Ring.Keyframes == 0 {
			return fmt.Errorf("stream %+v", h.Stream)
		}
		return nil
	})
	if h.Stream.Encoder.Backend != "libx264" || h.Stream.Viewers.MaxViewers != cfg.Stream.MaxViewers {
		t.Errorf("stream health: %+v", h.Stream)
	}

	req, _ := http.NewRequest("POST", "https://"+addr+"/whep", strings.NewReader("v=0\r\n"))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer not-a-token")
	resp, err := insecure.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("WHEP with an unknown token answered %s, want 401", resp.Status)
	}

	resp, err = insecure.Get("https://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, m := range []string{"doorbell_encoder_access_units_total", "doorbell_stream_viewers", "doorbell_whep_responses_total"} {
		if !strings.Contains(string(body), m) {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}
