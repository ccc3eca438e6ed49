package replies

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// The built-in replies are spoken by the real espeak-ng, in English and
// German, and decode as Ogg Opus; the owner's recording is kept under its
// name, played, and removed; bad input is refused and loses nothing.
func TestReplies(t *testing.T) {
	s, err := Open(t.TempDir(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MakeBuiltins(context.Background()); err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != len(Builtin) {
		t.Fatalf("list after making the built-ins: %v (%v)", list, err)
	}
	langs := map[string]int{}
	for _, r := range list {
		langs[r.Lang]++
		p, err := s.Path(r.ID)
		if err != nil {
			t.Fatal(err)
		}
		probe, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name:format=duration", "-of", "csv=p=0", p).Output()
		if err != nil || !strings.Contains(string(probe), "opus") {
			t.Errorf("%s: ffprobe says %q (%v), want Opus", r.ID, probe, err)
		}
	}
	if langs["en"] < 2 || langs["de"] < 2 {
		t.Errorf("replies by language: %v", langs)
	}

	var played []string
	var mu sync.Mutex
	h := &Handler{Store: s, Authorized: func(tok string) bool { return tok == "good" },
		Play: func(path string) error { mu.Lock(); played = append(played, path); mu.Unlock(); return nil }}
	mux := http.NewServeMux()
	h.Register(mux)
	do := func(method, url, token string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, url, bytes.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("GET", "/api/replies", "", nil); rec.Code != http.StatusUnauthorized {
		t.Errorf("without a token: %d", rec.Code)
	}
	voice, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=300:duration=1", "-c:a", "libopus", "-f", "webm", "pipe:1").Output()
	if err != nil {
		t.Fatal(err)
	}
	rec := do("POST", "/api/replies?name=Back+in+five", "good", voice)
	if rec.Code != http.StatusCreated || !strings.Contains(rec.Body.String(), "own-") {
		t.Fatalf("adding a recording: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/api/replies?name=Noise", "good", []byte("not audio at all")); rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "record it again") {
		t.Errorf("adding junk: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/api/replies?name=", "good", voice); rec.Code != http.StatusBadRequest {
		t.Errorf("adding without a name: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/api/replies?name=Big", "good", make([]byte, MaxRecordingBytes+10)); rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("adding too much: %d %s", rec.Code, rec.Body)
	}
	list, _ = s.List()
	own := list[len(list)-1]
	if len(list) != len(Builtin)+1 || own.Text != "Back in five" || own.Builtin {
		t.Fatalf("list after one good and three bad uploads: %+v", list)
	}
	if rec := do("POST", "/api/replies/"+own.ID+"/play", "good", nil); rec.Code != http.StatusAccepted {
		t.Errorf("play: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/api/replies/coming-de/play", "good", nil); rec.Code != http.StatusAccepted {
		t.Errorf("play a built-in: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/api/replies/../../etc/passwd/play", "good", nil); rec.Code == http.StatusAccepted {
		t.Errorf("play outside the folder: %d", rec.Code)
	}
	if rec := do("POST", "/api/replies/own-0000000000000000/play", "good", nil); rec.Code != http.StatusNotFound {
		t.Errorf("play an unknown reply: %d", rec.Code)
	}
	mu.Lock()
	if len(played) != 2 || !strings.HasSuffix(played[0], own.ID+".ogg") || !strings.HasSuffix(played[1], "coming-de.ogg") {
		t.Errorf("played %v", played)
	}
	mu.Unlock()
	if rec := do("DELETE", "/api/replies/coming-en", "good", nil); rec.Code != http.StatusConflict {
		t.Errorf("removing a built-in: %d", rec.Code)
	}
	if rec := do("DELETE", "/api/replies/"+own.ID, "good", nil); rec.Code != http.StatusNoContent {
		t.Errorf("removing the recording: %d %s", rec.Code, rec.Body)
	}
	if _, err := os.Stat(s.audioPath(own.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the removed recording's audio is still there: %v", err)
	}
	if rec := do("DELETE", "/api/replies/"+own.ID, "good", nil); rec.Code != http.StatusNotFound {
		t.Errorf("removing it again: %d", rec.Code)
	}
}

// Without espeak-ng the error says what to install.
func TestBuiltinsWithoutEspeak(t *testing.T) {
	s, err := Open(t.TempDir(), "", "/nonexistent/espeak-ng")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MakeBuiltins(context.Background()); err == nil || !strings.Contains(err.Error(), "apt-get install espeak-ng") {
		t.Errorf("MakeBuiltins without espeak-ng: %v", err)
	}
	if _, err := s.Path("parcel-en"); err == nil || !strings.Contains(err.Error(), "install espeak-ng") {
		t.Errorf("Path of an unmade built-in: %v", err)
	}
}
