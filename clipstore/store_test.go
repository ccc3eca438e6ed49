package clipstore

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/crypto/clip"
	"doorbell/internal/testkit"
	"doorbell/wire"
)

// put makes a finished clip of n bytes with a record, dated at t.
func put(t *testing.T, s *Store, n int, at time.Time) string {
	t.Helper()
	id := clip.NewID()
	cf, err := s.Create(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cf.Write(bytes.Repeat([]byte{0xAA}, n)); err != nil {
		t.Fatal(err)
	}
	if err := s.WriteRecord(id, []byte("sealed record")); err != nil {
		t.Fatal(err)
	}
	if err := cf.Commit(); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(s.ClipPath(id), at, at)
	return id
}

func ids(es []Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestListIsOldestFirstAndSkipsPartials(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	b := put(t, s, 100, now.Add(-time.Hour))
	a := put(t, s, 200, now.Add(-2*time.Hour))
	c := put(t, s, 300, now)
	cf, _ := s.Create(clip.NewID())
	cf.Write([]byte("recording"))
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids(list), ",") != strings.Join([]string{a, b, c}, ",") {
		t.Fatalf("order %v", ids(list))
	}
	if list[0].Bytes != 200 || list[0].RecordBytes != int64(len("sealed record")) {
		t.Errorf("entry %+v", list[0])
	}
	fi, _ := os.Stat(s.Dir())
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("clips dir mode %v", fi.Mode().Perm())
	}
	fi, _ = os.Stat(s.ClipPath(a))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("clip mode %v", fi.Mode().Perm())
	}
	cf.Abort()
}

func TestRecoverKeepsInterruptedClipsAndRemovesTemporaries(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	done := put(t, s, 100, time.Now())
	// A crash left: a partial clip with its start record, an empty
	// partial, a half-written record, and a record whose clip is gone.
	cut := clip.NewID()
	cf, _ := s.Create(cut)
	id, _ := age.GenerateX25519Identity()
	w, _ := age.Encrypt(cf, id.Recipient())
	w.Write(make([]byte, 70_000)) // one 64 KiB chunk out, the rest still buffered
	s.WriteRecord(cut, []byte("start record"))
	empty := clip.NewID() // cut off before any chunk
	ef, _ := s.Create(empty)
	age.Encrypt(ef, id.Recipient())
	s.WriteRecord(empty, []byte("start record"))
	garbage := clip.NewID()
	os.WriteFile(s.partialPath(garbage), nil, 0o600)
	os.WriteFile(filepath.Join(s.Dir(), "."+done+clip.RecordSuffix+".tmp-123"), []byte("half"), 0o600)
	orphan := clip.NewID()
	os.WriteFile(s.RecordPath(orphan), []byte("x"), 0o600)

	s2, _ := Open(dir)
	rec, err := s2.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Clips) != 1 || rec.Clips[0] != cut || len(rec.Removed) != 4 {
		t.Fatalf("recovered %+v", rec)
	}
	entries, _ := os.ReadDir(s.Dir())
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	if len(names) != 4 {
		t.Errorf("files after recovery: %v", names)
	}
	if fi, err := os.Stat(s.ClipPath(cut)); err != nil || fi.Size() != cf.Size() {
		t.Errorf("interrupted clip: %v", err)
	}
	if _, err := os.Stat(s.RecordPath(empty)); !os.IsNotExist(err) {
		t.Errorf("the record of a clip cut off before any video was kept")
	}
	cf.Abort() // the old handles; their files were renamed or removed
	ef.Abort()
}

func TestEnforceEvictsOldestFirst(t *testing.T) {
	s, _ := Open(t.TempDir())
	now := time.Now()
	old := put(t, s, 1000, now.Add(-48*time.Hour))
	mid := put(t, s, 1000, now.Add(-2*time.Hour))
	recent := put(t, s, 1000, now.Add(-time.Hour))
	newest := put(t, s, 1000, now)
	n, err := s.Enforce(Retention{MaxAge: 24 * time.Hour}, now, 0)
	if err != nil || n != 1 {
		t.Fatalf("by age: %d %v", n, err)
	}
	if _, err := os.Stat(s.ClipPath(old)); !os.IsNotExist(err) {
		t.Error("old clip kept")
	}
	if _, err := os.Stat(s.RecordPath(old)); !os.IsNotExist(err) {
		t.Error("old record kept")
	}
	// Room for two clips and their records; the oldest one is protected.
	unprotect := s.Protect(mid)
	n, err = s.Enforce(Retention{MaxBytes: 2100 + 2*13}, now, 0)
	unprotect()
	if err != nil || n != 1 {
		t.Fatalf("by bytes: %d %v", n, err)
	}
	list, _ := s.List()
	if strings.Join(ids(list), ",") != mid+","+newest {
		t.Fatalf("kept %v, want mid and newest (recent %s)", ids(list), recent)
	}
	if c, b := s.Evictions(); c != 2 || b != 2*(1000+13) {
		t.Errorf("evictions %d clips %d bytes", c, b)
	}
}

func TestFullDiskEvictsAndCarriesOn(t *testing.T) {
	// Five 4 KiB pages: each clip below takes two (its file and its record).
	s, _ := Open(testkit.SmallDisk(t, 5<<12))
	now := time.Now()
	a := put(t, s, 4000, now.Add(-2*time.Hour))
	b := put(t, s, 4000, now.Add(-time.Hour))
	cf, err := s.Create(clip.NewID())
	if err != nil {
		t.Fatal(err)
	}
	// 5000 bytes do not fit beside both: the oldest goes, the write completes.
	if n, err := cf.Write(bytes.Repeat([]byte{2}, 5000)); err != nil || n != 5000 {
		t.Fatalf("write: %d %v", n, err)
	}
	if _, err := os.Stat(s.ClipPath(a)); !os.IsNotExist(err) {
		t.Error("oldest clip not evicted")
	}
	if _, err := os.Stat(s.ClipPath(b)); err != nil {
		t.Error("a clip that fit was evicted")
	}
	// More than the whole disk: everything else goes, then it fails clearly.
	_, err = cf.Write(bytes.Repeat([]byte{3}, 20_000))
	if !IsNoSpace(err) || !strings.Contains(err.Error(), "no older clip left") {
		t.Fatalf("overfull write: %v", err)
	}
	if _, err := os.Stat(s.partialPath(cf.ID())); err != nil {
		t.Error("the recording clip itself was evicted")
	}
	if err := cf.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestRealFullDisk fills a real (tmpfs) file system, many times over.
func TestRealFullDisk(t *testing.T) {
	s, err := Open(testkit.SmallDisk(t, 256<<10))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		id := clip.NewID()
		cf, err := s.Create(id)
		if err != nil {
			t.Fatalf("clip %d: %v", i, err)
		}
		if _, err := cf.Write(bytes.Repeat([]byte{byte(i)}, 60<<10)); err != nil {
			t.Fatalf("clip %d: %v", i, err)
		}
		if err := s.WriteRecord(id, bytes.Repeat([]byte{1}, 2000)); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		if err := cf.Commit(); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	list, _ := s.List()
	if c, _ := s.Evictions(); c < 15 || len(list) < 2 {
		t.Errorf("after 20 clips of 60 KiB on 256 KiB: %d evicted, %d kept", c, len(list))
	}
}

func TestHTTP(t *testing.T) {
	s, _ := Open(t.TempDir())
	at := time.Date(2026, 3, 4, 15, 47, 12, 0, time.UTC)
	id := put(t, s, 10_000, at)
	partial := clip.NewID()
	pcf, _ := s.Create(partial)
	pcf.Write([]byte("x"))
	defer pcf.Abort()
	mux := http.NewServeMux()
	h := &Handler{Store: s, DeviceKey: "ed25519:KEY"}
	h.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path, token string, hdr ...string) *http.Response {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		for i := 0; i < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if r := get("/api/clips", "good"); r.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("no token store: %d", r.StatusCode)
	}
	h.Auth = testkit.NewTokens(map[string]string{"good": "dev1"})
	for _, c := range []struct{ path, token string }{{"/api/clips", ""}, {"/api/clips", "bad"}, {"/api/clips/" + id + ".mp4.age", ""}, {"/api/clips/" + id + ".mp4.age", "bad"}} {
		r := get(c.path, c.token)
		if r.StatusCode != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s with %q: %d", c.path, c.token, r.StatusCode)
		}
	}
	r := get("/api/clips", "good")
	var list wire.ClipList
	json.NewDecoder(r.Body).Decode(&list)
	if len(list.Clips) != 1 || list.Clips[0].ID != id || list.Clips[0].Bytes != 10_000 || !list.Clips[0].Hour.Equal(at.Truncate(time.Hour)) || list.DeviceKey != "ed25519:KEY" {
		t.Fatalf("list %+v", list)
	}
	r = get("/api/clips/"+id+".mp4.age", "good", "Range", "bytes=9000-")
	body, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusPartialContent || len(body) != 1000 || r.Header.Get("Content-Range") != "bytes 9000-9999/10000" {
		t.Errorf("range: %d %d %q", r.StatusCode, len(body), r.Header.Get("Content-Range"))
	}
	r = get("/api/clips/"+id+".event.age", "good")
	if body, _ := io.ReadAll(r.Body); string(body) != "sealed record" {
		t.Errorf("record: %q", body)
	}
	for _, p := range []string{"/api/clips/" + partial + ".mp4.age", "/api/clips/..%2Fmembers.json", "/api/clips/" + clip.NewID() + ".mp4.age", "/api/clips/." + id + ".mp4.age.partial"} {
		if r := get(p, "good"); r.StatusCode != http.StatusNotFound {
			t.Errorf("%s: %d", p, r.StatusCode)
		}
	}
}

// The partial clip's directory entry must be made durable too, or a power
// cut mid-clip can lose the whole file even though its data was synced.
func TestSyncMakesThePartialClipsNameDurable(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var synced []string
	defer func(old func(string) error) { syncDir = old }(syncDir)
	syncDir = func(dir string) error { synced = append(synced, dir); return nil }
	cf, err := s.Create(clip.NewID())
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Abort()
	cf.Write([]byte("sealed"))
	if err := cf.Sync(); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 1 || synced[0] != s.Dir() {
		t.Fatalf("directories synced: %q", synced)
	}
	cf.Sync()
	if len(synced) != 1 {
		t.Errorf("the directory is synced again on every Sync: %q", synced)
	}
}
