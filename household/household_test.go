package household

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/clipstore"
	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/devicekey"
	"doorbell/internal/testkit"
	"doorbell/wire"
)

// fakeDoorbell serves clips and pairing over TLS on loopback.
type fakeDoorbell struct {
	srv    *httptest.Server
	store  *clipstore.Store
	key    ed25519.PrivateKey
	member *keys.Identity
	paired atomic.Int32
	since  atomic.Pointer[time.Time] // when the asking member was added; nil: always
}

func newFakeDoorbell(t testing.TB, clips int) *fakeDoorbell {
	t.Helper()
	f := &fakeDoorbell{}
	var err error
	if f.store, err = clipstore.Open(t.TempDir()); err != nil {
		t.Fatal(err)
	}
	_, f.key, _ = ed25519.GenerateKey(nil)
	f.member, _ = keys.Generate(keys.Hybrid)
	rec, _, _ := keys.ParseRecipient(f.member.Recipient)
	pub := f.key.Public().(ed25519.PublicKey)
	for i := range clips {
		id := clip.NewID()
		var cb bytes.Buffer
		w, _ := clip.NewWriter(&cb, id, []age.Recipient{rec}, f.key)
		w.Write(bytes.Repeat([]byte{byte(i)}, 3000))
		sum, _ := w.Close()
		r := &clip.Record{ID: id, Device: devicekey.Fingerprint(pub), Kind: "motion",
			Trigger: time.Unix(1_800_000_000+int64(i)*60, 0).UTC(), Zones: []string{"porch"}, Thumbnail: make([]byte, 4000)}
		r.Complete(sum, int64(cb.Len()), 4*time.Second)
		var rb bytes.Buffer
		if err := r.Seal(&rb, []age.Recipient{rec}, f.key); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(f.store.ClipPath(id), cb.Bytes(), 0o600)
		os.WriteFile(f.store.RecordPath(id), rb.Bytes(), 0o600)
	}
	mux := http.NewServeMux()
	(&clipstore.Handler{Store: f.store, DeviceKey: devicekey.PublicString(pub),
		Auth: testkit.NewTokens(map[string]string{"tok": "dev1"}),
		Since: func(string) (time.Time, time.Time, bool) {
			if t := f.since.Load(); t != nil {
				return *t, time.Time{}, true
			}
			return time.Time{}, time.Time{}, true
		}}).Register(mux)
	mux.HandleFunc("GET /api/device", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(wire.Device{DeviceKey: devicekey.PublicString(pub)})
	})
	mux.HandleFunc("POST /api/pair", func(w http.ResponseWriter, r *http.Request) {
		var req struct{ Code, Device string }
		json.NewDecoder(r.Body).Decode(&req)
		if req.Code != "goodcode" {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": "the pairing code is unknown; make a new one"})
			return
		}
		f.paired.Add(1)
		json.NewEncoder(w).Encode(map[string]string{"token": "tok", "id": "dev1", "member": "anna", "device": req.Device, "device_key": devicekey.PublicString(pub)})
	})
	f.srv = httptest.NewUnstartedServer(mux)
	f.srv.EnableHTTP2 = true
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// id is the fake doorbell's device ID.
func (f *fakeDoorbell) id() string {
	return wire.DeviceID(f.srv.Certificate().RawSubjectPublicKeyInfo, f.key.Public().(ed25519.PublicKey))
}

func TestPairListPullAndPins(t *testing.T) {
	f := newFakeDoorbell(t, 3)
	ds, _ := LoadDevices(t.TempDir())
	ctx := context.Background()
	if _, err := Pair(ctx, ds, f.srv.URL, "badcode", f.id(), ""); err == nil || !strings.Contains(err.Error(), "pairing code is unknown") {
		t.Fatalf("bad code: %v", err)
	}
	d, err := Pair(ctx, ds, f.srv.URL+"/pair#code=goodcode&id="+f.id(), "", "", "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if d.Member != "anna" || d.TLSKey == "" || !strings.Contains(d.TLSCert, ":") {
		t.Errorf("pinned %+v", d)
	}
	again, _ := LoadDevices(ds.Dir)
	if len(again.Devices) != 1 || again.Devices[0].Token != "tok" {
		t.Fatalf("saved pairings %+v", again.Devices)
	}
	if fi, _ := os.Stat(filepath.Join(ds.Dir, DevicesFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("devices file mode %v", fi.Mode().Perm())
	}
	c := NewClient(d)
	defer c.Close()
	list, err := ListRemote(ctx, c, []age.Identity{f.member.Identity}, ds.TrustedKeys(), 4)
	if err != nil || len(list) != 3 {
		t.Fatalf("list: %v %d", err, len(list))
	}
	for i, l := range list {
		if l.Sig != SigOK || l.Record == nil || l.Bytes == 0 || (i > 0 && l.Record.Trigger.Before(list[i-1].Record.Trigger)) {
			t.Errorf("listed %+v", l)
		}
	}
	dir := t.TempDir()
	var last, total int64
	st, err := Pull(ctx, c, dir, func(done, tot int64) { last, total = done, tot })
	if err != nil || st.New != 3 || last != total || total == 0 {
		t.Fatalf("pull: %+v %v (%d of %d)", st, err, last, total)
	}
	st, err = Pull(ctx, c, dir, nil)
	if err != nil || st.New != 0 || st.Present != 3 {
		t.Fatalf("second pull: %+v %v", st, err)
	}

	// Another server (another TLS key) at the pinned address is refused.
	other := newFakeDoorbell(t, 1)
	moved := *d
	moved.URL = other.srv.URL
	if _, err := NewClient(&moved).List(ctx); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("other TLS key: %v", err)
	}
	// So is a changed signing key.
	rekeyed := *d
	rekeyed.SigningKey = "ed25519:" + strings.Repeat("A", 43) + "="
	if _, err := NewClient(&rekeyed).List(ctx); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("other signing key: %v", err)
	}
	// Pairing again with the same doorbell keeps working; with another
	// doorbell claiming the same address it is refused.
	if _, err := Pair(ctx, ds, f.srv.URL, "goodcode", "", ""); err != nil {
		t.Errorf("pairing again: %v", err)
	}
	ds.Devices[0].URL = other.srv.URL
	if _, err := Pair(ctx, ds, other.srv.URL, "goodcode", "", ""); !errors.Is(err, ErrPinMismatch) {
		t.Errorf("re-pairing with a changed TLS key: %v", err)
	}
}

// BenchmarkClipsList1000 lists 1,000 clips over loopback HTTPS (HTTP/2):
// the list, then each sealed record fetched, decrypted (post-quantum) and
// its signature checked, 8 at a time. One op is one whole listing.
func BenchmarkClipsList1000(b *testing.B) {
	f := newFakeDoorbell(b, 1000)
	ds, _ := LoadDevices(b.TempDir())
	d, err := Pair(context.Background(), ds, f.srv.URL, "goodcode", f.id(), "")
	if err != nil {
		b.Fatal(err)
	}
	c := NewClient(d)
	defer c.Close()
	ids := []age.Identity{f.member.Identity}
	b.ResetTimer()
	for b.Loop() {
		list, err := ListRemote(context.Background(), c, ids, ds.TrustedKeys(), 8)
		if err != nil || len(list) != 1000 || list[999].Sig != SigOK {
			b.Fatalf("%v %d", err, len(list))
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/list")
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// A clip kept without its event record (power cut before the record was
// written) must not stop pull: there is no record to fetch.
func TestPullClipWithoutRecord(t *testing.T) {
	f := newFakeDoorbell(t, 2)
	list, _ := f.store.List()
	os.Remove(f.store.RecordPath(list[0].ID))
	ds, _ := LoadDevices(t.TempDir())
	ctx := context.Background()
	d, err := Pair(ctx, ds, f.srv.URL, "goodcode", f.id(), "")
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(d)
	defer c.Close()
	ls, err := ListRemote(ctx, c, []age.Identity{f.member.Identity}, ds.TrustedKeys(), 2)
	if err != nil || len(ls) != 2 || ls[1].Record != nil || ls[1].Err == nil || !strings.Contains(ls[1].Err.Error(), "no event record") {
		t.Fatalf("list: %v %+v", err, ls)
	}
	dir := t.TempDir()
	st, err := Pull(ctx, c, dir, nil)
	if err != nil || st.New != 2 {
		t.Fatalf("pull: %+v %v", st, err)
	}
	for _, e := range list {
		if _, err := os.Stat(filepath.Join(dir, e.ID+clip.ClipSuffix)); err != nil {
			t.Errorf("clip %s not pulled: %v", e.ID, err)
		}
	}
	if st, err := Pull(ctx, c, dir, nil); err != nil || st.New != 0 || st.Present != 2 {
		t.Fatalf("second pull: %+v %v", st, err)
	}
}

func TestFindWithoutPairings(t *testing.T) {
	ds := &Devices{}
	if _, err := ds.Find(""); err == nil || !strings.Contains(err.Error(), "doorbell device add") {
		t.Errorf("no pairings: %v", err)
	}
}

// First-use pairing cannot be intercepted: through a TLS proxy (its own
// certificate, passing everything to the real doorbell) the device ID does
// not match, and the code is never sent. A link without an ID is refused.
func TestPairThroughAProxyIsRefusedBeforeTheCode(t *testing.T) {
	f := newFakeDoorbell(t, 0)
	target, _ := url.Parse(f.srv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	var sawPair atomic.Int32
	proxy := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/pair" {
			sawPair.Add(1)
		}
		rp.ServeHTTP(w, r)
	}))
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}} // the proxy's own key
	proxy.StartTLS()
	defer proxy.Close()
	ds, _ := LoadDevices(t.TempDir())
	ctx := context.Background()
	_, err := Pair(ctx, ds, proxy.URL+"/pair#code=goodcode&id="+f.id(), "", "", "")
	if !errors.Is(err, ErrPinMismatch) || !strings.Contains(err.Error(), "the code was not sent") {
		t.Errorf("pairing through a proxy: %v", err)
	}
	if _, err := Pair(ctx, ds, proxy.URL+"/pair#goodcode", "", "", ""); err == nil || !strings.Contains(err.Error(), "no device ID") {
		t.Errorf("a link without a device ID: %v", err)
	}
	if n, m := sawPair.Load(), f.paired.Load(); n != 0 || m != 0 || len(ds.Devices) != 0 {
		t.Errorf("the code reached the proxy %d times and the doorbell %d times; %d pairings kept", n, m, len(ds.Devices))
	}
	// Directly, the same link pairs.
	if _, err := Pair(ctx, ds, f.srv.URL+"/pair#code=goodcode&id="+f.id(), "", "", ""); err != nil {
		t.Errorf("pairing directly: %v", err)
	}
}

// selfSigned makes a certificate for 127.0.0.1 with a new key.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A member added after some clips were recorded: list says those were
// never sealed to them (without fetching their records, and not as
// errors), and pull leaves them on the doorbell unless asked for all.
func TestClipsSealedBeforeTheMember(t *testing.T) {
	f := newFakeDoorbell(t, 4)
	entries, _ := f.store.List()
	// The member is added now, in whole seconds as the doorbell keeps it;
	// one clip is then recorded anew once the clock is past that second.
	added := time.Now().Truncate(time.Second)
	f.since.Store(&added)
	later := f.store.ClipPath(entries[3].ID)
	data, err := os.ReadFile(later)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(added.Add(time.Second + 10*time.Millisecond))) // the wall clock itself is what is waited for
	if err := os.Remove(later); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(later, data, 0o600); err != nil {
		t.Fatal(err)
	}
	ds, _ := LoadDevices(t.TempDir())
	ctx := context.Background()
	d, err := Pair(ctx, ds, f.srv.URL, "goodcode", f.id(), "laptop")
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient(d)
	defer c.Close()
	other, _ := keys.Generate(keys.Hybrid) // the new member's key: nothing here is sealed to it
	list, err := ListRemote(ctx, c, []age.Identity{other.Identity}, ds.TrustedKeys(), 4)
	if err != nil || len(list) != 4 {
		t.Fatalf("list: %v %d", err, len(list))
	}
	before := 0
	for _, l := range list {
		if l.SealedBefore {
			before++
			if l.Err != nil || l.Record != nil {
				t.Errorf("a clip from before the member is listed with %v", l.Err)
			}
		}
	}
	if before != 3 {
		t.Errorf("%d clips marked as sealed before the member, want 3", before)
	}
	dir := t.TempDir()
	st, err := Pull(ctx, c, dir, nil)
	if err != nil || st.New != 1 || st.Skipped != 3 {
		t.Fatalf("pull: %+v %v; want 1 new, 3 left on the doorbell", st, err)
	}
	got, _ := os.ReadDir(dir)
	got = slices.DeleteFunc(got, func(e os.DirEntry) bool { return e.Name() == ".doorbell-seen.json" })
	if len(got) != 2 {
		t.Errorf("pulled %d files, want the one clip and its record", len(got))
	}
	st, err = PullAll(ctx, c, dir, nil)
	if err != nil || st.New != 3 || st.Present != 1 || st.Skipped != 0 {
		t.Fatalf("pull everything: %+v %v", st, err)
	}
}
