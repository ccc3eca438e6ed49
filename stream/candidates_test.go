package stream

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestFilterCandidates(t *testing.T) {
	c := func(addr string) string {
		return fmt.Sprintf("a=candidate:1 1 udp 2122260223 %s 50000 typ host generation 0\r\n", addr)
	}
	offer := "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n" +
		c("192.168.1.20") + c("fe80::1") + c("0f2c6d1e-9a.local") + // kept
		c("127.0.0.1") + c("::1") + c("0.0.0.0") + c("224.0.0.251") + c("ff02::1") +
		c("255.255.255.255") + c("192.168.1.255") + c("::ffff:127.0.0.1") + // dropped
		"a=candidate:garbage\r\na=end-of-candidates\r\n"
	out, dropped := filterCandidates(offer, false)
	if dropped != 9 {
		t.Errorf("dropped %d candidates, want 9:\n%s", dropped, out)
	}
	for _, keep := range []string{"192.168.1.20", "fe80::1", ".local", "m=video", "a=end-of-candidates"} {
		if !strings.Contains(out, keep) {
			t.Errorf("%s left out:\n%s", keep, out)
		}
	}
	// A doorbell that offers loopback itself (a test machine) keeps loopback.
	if out, _ := filterCandidates(offer, true); !strings.Contains(out, " 127.0.0.1 ") || !strings.Contains(out, " ::1 ") {
		t.Errorf("loopback dropped on a loopback doorbell:\n%s", out)
	}
	// At most MaxRemoteCandidates.
	var many strings.Builder
	many.WriteString("v=0\r\n")
	for i := range 300 {
		many.WriteString(fmt.Sprintf("a=candidate:1 1 udp 2122260223 10.0.%d.%d %d typ host\r\n", i/200, i%200+1, 1000+i))
	}
	out, dropped = filterCandidates(many.String(), false)
	if n := strings.Count(out, "a=candidate:"); n != MaxRemoteCandidates || dropped != 300-MaxRemoteCandidates {
		t.Errorf("300 candidates: kept %d, dropped %d", n, dropped)
	}
}

// The hub uses only the filtered candidates: an offer with 300 loopback
// candidates gives its peer connection none of them (the doorbell here
// does not offer loopback).
func TestHubIgnoresCandidatesItMustNotCheck(t *testing.T) {
	hub, err := NewHub(NewRing(1<<20), HubConfig{Log: testLog(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer hub.Close()
	offer := offerSDP(t)
	var b strings.Builder
	for i := range 300 {
		b.WriteString(fmt.Sprintf("a=candidate:%d 1 udp 2122260223 127.0.0.1 %d typ host\r\n", i, 20000+i))
	}
	offer = strings.Replace(offer, "a=mid:0\r\n", "a=mid:0\r\n"+b.String(), 1)
	if strings.Count(offer, "a=candidate:") < 300 {
		t.Fatalf("the candidates did not go into the offer:\n%s", offer)
	}
	id, _, err := hub.Open(t.Context(), offer, "anna", nil)
	if err != nil {
		t.Fatal(err)
	}
	hub.mu.Lock()
	s := hub.sessions[id]
	hub.mu.Unlock()
	if n := strings.Count(s.pc.RemoteDescription().SDP, "a=candidate:"); n != 0 {
		t.Errorf("the peer connection got %d of the 300 loopback candidates", n)
	}
}

// One device cannot take every viewer place (issue 13, item 11).
func TestViewersAreLimitedPerDevice(t *testing.T) {
	p := startPipeline(t, pipelineConfig{noEncoder: true, maxViewers: 5})
	url := p.srv.URL + "/whep"
	for i := range 3 {
		status, _, body, err := post(url, "good-token", "application/sdp", offerSDP(t))
		if err != nil || status != http.StatusCreated {
			t.Fatalf("session %d of anna: %d %s %v", i+1, status, body, err)
		}
	}
	status, hdr, body, _ := post(url, "good-token", "application/sdp", offerSDP(t))
	if status != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" || !strings.Contains(body, "this device already watches") {
		t.Errorf("fourth session of anna: %d %q", status, body)
	}
	if status, _, body, _ := post(url, "other-token", "application/sdp", offerSDP(t)); status != http.StatusCreated {
		t.Errorf("ben, after anna took her share: %d %q", status, body)
	}
}
