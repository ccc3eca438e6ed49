package main

import (
	"bytes"
	"crypto/ed25519"
	be "encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/crypto/members"
	"doorbell/devicekey"
	"doorbell/household"
	"doorbell/pairing"
)

func init() { keys.ScryptWorkFactor = 10 } // fast tests

// cli runs the CLI in this process (so tests can answer passphrase prompts).
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return o.String(), e.String(), code
}

// answer makes passphrase prompts answer with the given passphrases, in turn.
func answer(t *testing.T, passphrases ...string) {
	t.Helper()
	old := promptSecret
	t.Cleanup(func() { promptSecret = old })
	promptSecret = func(string) (string, error) {
		if len(passphrases) == 0 {
			t.Fatal("asked for more passphrases than expected")
		}
		p := passphrases[0]
		passphrases = passphrases[1:]
		return p, nil
	}
}

func noPins(t *testing.T) {
	t.Setenv("DOORBELL_CONFIG_DIR", t.TempDir())
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "me.key")
	out, errOut, code := cli(t, "keygen", "-o", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	recipient := strings.TrimSpace(out)
	if !strings.HasPrefix(recipient, "age1pq1") || strings.Contains(out, "SECRET") {
		t.Fatalf("stdout %.40q is not just the post-quantum public key", out)
	}
	data, _ := os.ReadFile(file)
	if !regexp.MustCompile(`^# created: \S+\n# public key: age1pq1\w+\nAGE-SECRET-KEY-PQ-1\w+\n$`).Match(data) {
		t.Errorf("identity file is not as age-keygen writes it:\n%.200s", data)
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
	if _, errOut, code = cli(t, "keygen", "-o", file); code != 1 || !strings.Contains(errOut, "never overwrites") {
		t.Errorf("second keygen: %d %s", code, errOut)
	}
	if again, _ := os.ReadFile(file); !bytes.Equal(again, data) {
		t.Error("the key file was overwritten")
	}

	out, errOut, _ = cli(t, "keygen", "-classic")
	if !strings.HasPrefix(errOut, "Public key: age1") || strings.HasPrefix(errOut, "Public key: age1pq1") || !strings.Contains(out, "AGE-SECRET-KEY-1") {
		t.Errorf("keygen -classic to stdout: %q %q", out, errOut)
	}
}

func TestKeygenPassphrase(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "me.key")
	answer(t, "correct horse", "correct horse")
	out, errOut, code := cli(t, "keygen", "-passphrase", "-o", file)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	data, _ := os.ReadFile(file)
	if !bytes.HasPrefix(data, []byte("-----BEGIN AGE ENCRYPTED FILE-----")) || bytes.Contains(data, []byte("SECRET")) {
		t.Fatalf("not an armored age file:\n%s", data)
	}
	ids, err := keys.ParseIdentities(file, data, func() (string, error) { return "correct horse", nil })
	if err != nil || keys.PublicKeys(ids)[0] != strings.TrimSpace(out) {
		t.Fatalf("cannot open it with the passphrase: %v", err)
	}
	answer(t, "one", "two")
	other := filepath.Join(dir, "other.key")
	if _, errOut, code = cli(t, "keygen", "-passphrase", "-o", other); code != 1 || !strings.Contains(errOut, "differ") {
		t.Errorf("different passphrases: %d %s", code, errOut)
	}
	if _, err := os.Stat(other); err == nil {
		t.Error("a key file was written although the passphrases differed")
	}
}

func TestMemberAddListRemove(t *testing.T) {
	data := t.TempDir()
	a, _ := keys.Generate(keys.Hybrid)
	b, _ := keys.Generate(keys.Hybrid)
	c, _ := keys.Generate(keys.Classic)
	if _, e, code := cli(t, "member", "add", "-data", data, "anna", a.Recipient); code != 0 {
		t.Fatal(e)
	}
	if _, e, code := cli(t, "member", "add", "-data", data, "ben", b.Recipient); code != 0 {
		t.Fatal(e)
	}
	for _, tc := range []struct{ name, key, want string }{
		{"cara", c.Recipient, "age refuses to mix"},
		{"anna", c.Recipient, `already a member named "anna"`},
		{"dan", a.Recipient[:50], "cut short"},
		{"dan", a.Secret, "secret key, not a public key"},
		{"anna", func() string { k, _ := keys.Generate(keys.Hybrid); return k.Recipient }(), `already a member named "anna"`},
	} {
		_, e, code := cli(t, "member", "add", "-data", data, tc.name, tc.key)
		if code == 0 || !strings.Contains(e, tc.want) || strings.Contains(e, "AGE-SECRET-KEY") {
			t.Errorf("add %s: exit %d, %q, want %q", tc.name, code, e, tc.want)
		}
	}
	// Ben has a paired phone; removing him revokes it.
	code, err := pairing.NewCode(data, "ben", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	st := pairing.Open(data, nil)
	phoneKey, _ := keys.Generate(keys.Hybrid)
	if _, _, err := st.Pair(code.Code, "Ben's phone", phoneKey.Recipient); err != nil {
		t.Fatal(err)
	}
	out, _, _ := cli(t, "member", "list", "-data", data)
	if !regexp.MustCompile(`(?m)^ben +age1pq1\S+ +\S+ \S+ +1\n  key of Ben's phone +age1pq1\S+ +\S+ \S+ *$`).MatchString(out) || !strings.Contains(out, "post-quantum") {
		t.Errorf("member list:\n%s", out)
	}
	out, _, _ = cli(t, "member", "list", "-data", data, "-json")
	if !strings.Contains(out, `"device": "Ben's phone"`) || !strings.Contains(out, phoneKey.Recipient) || !strings.Contains(out, `"from": "phone"`) {
		t.Errorf("member list -json lacks the phone's key:\n%.600s", out)
	}
	out, e, rc := cli(t, "member", "remove", "-data", data, "ben")
	if rc != 0 || !strings.Contains(out, "Removed ben") || !strings.Contains(out, "Revoked Ben's phone") || !strings.Contains(out, "Its key is gone") {
		t.Errorf("remove: %d %s %s", rc, out, e)
	}
	reg, _ := members.Load(data)
	if strings.Join(reg.Names(), ",") != "anna" {
		t.Errorf("members after remove: %v", reg.Names())
	}
	if tokens, _ := pairing.List(data); len(tokens) != 0 {
		t.Errorf("ben's phone still paired: %v", tokens)
	}
	out, _, _ = cli(t, "member", "list", "-data", data, "-json")
	var list []map[string]any
	if json.Unmarshal([]byte(out), &list) != nil || len(list) != 1 || list[0]["name"] != "anna" {
		t.Errorf("member list -json: %s", out)
	}
}

// household is a device data dir with a signing key, and a member's identity file.
type testHousehold struct {
	data, idFile string
	id           *keys.Identity
	key          ed25519.PrivateKey
	clips        string
}

func newTestHousehold(t *testing.T) *testHousehold {
	h := &testHousehold{data: t.TempDir()}
	var err error
	if h.key, err = devicekey.LoadOrCreate(h.data); err != nil {
		t.Fatal(err)
	}
	h.id, _ = keys.Generate(keys.Hybrid)
	h.idFile = filepath.Join(t.TempDir(), "me.key")
	os.WriteFile(h.idFile, h.id.File(time.Now()), 0o600)
	h.clips = filepath.Join(h.data, "clips")
	os.Mkdir(h.clips, 0o700)
	return h
}

func mp4Box(typ string, n int) []byte {
	b := make([]byte, 8+n)
	be.BigEndian.PutUint32(b, uint32(8+n))
	copy(b[4:], typ)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i * 7)
	}
	return b
}

// seal writes a clip of fragments half-second fragments and its record;
// complete false leaves it as a crash would: cut after cutChunks chunks,
// with its "recording" record.
func (h *testHousehold) seal(t *testing.T, fragments int, complete bool, cutChunks int) string {
	t.Helper()
	id := clip.NewID()
	var buf bytes.Buffer
	w, err := clip.NewWriter(&buf, id, []age.Recipient{mustRecipient(t, h.id.Recipient)}, h.key)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(mp4Box("ftyp", 16))
	w.Write(mp4Box("moov", 500))
	for i := range fragments {
		w.Write(mp4Box("moof", 100))
		w.Write(mp4Box("mdat", 40_000))
		w.Checkpoint(time.Duration(i+1) * 500 * time.Millisecond)
	}
	sum, _ := w.Close()
	data := buf.Bytes()
	rec := &clip.Record{ID: id, Device: devicekey.Fingerprint(h.key.Public().(ed25519.PublicKey)), Status: clip.StatusRecording,
		Kind: "ring", Trigger: time.Now().UTC(), Start: time.Now().UTC(), Zones: []string{"porch"}}
	if complete {
		rec.Complete(sum, int64(len(data)), time.Duration(fragments)*500*time.Millisecond)
	} else {
		hdr, _ := age.ExtractHeader(bytes.NewReader(data))
		data = data[:len(hdr)+16+cutChunks*(64<<10+16)]
	}
	var rb bytes.Buffer
	rec.Seal(&rb, []age.Recipient{mustRecipient(t, h.id.Recipient)}, h.key)
	os.WriteFile(filepath.Join(h.clips, id+clip.ClipSuffix), data, 0o600)
	os.WriteFile(filepath.Join(h.clips, id+clip.RecordSuffix), rb.Bytes(), 0o600)
	return id
}

func mustRecipient(t *testing.T, s string) age.Recipient {
	r, _, err := keys.ParseRecipient(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (h *testHousehold) clipPath(id string) string { return filepath.Join(h.clips, id+clip.ClipSuffix) }

func TestClipsOpen(t *testing.T) {
	noPins(t)
	h := newTestHousehold(t)
	done := h.seal(t, 6, true, 0)
	cut := h.seal(t, 12, false, 5)
	out := t.TempDir()

	o, e, code := cli(t, "clips", "open", "-data", h.data, "-i", h.idFile, "-o", filepath.Join(out, "done.mp4"), h.clipPath(done))
	if code != 0 || !strings.Contains(o, "ring at ") || !strings.Contains(o, "(3.0 s)") || !strings.Contains(o, "verified: signed by the doorbell SHA256:") {
		t.Fatalf("open: %d\n%s\n%s", code, o, e)
	}
	o, e, code = cli(t, "clips", "open", "-data", h.data, "-i", h.idFile, "-o", filepath.Join(out, "cut.mp4"), h.clipPath(cut))
	if code != 0 || !regexp.MustCompile(`truncated: recovered [0-9.]+ s`).MatchString(o) || !strings.Contains(o, "verified") {
		t.Fatalf("interrupted clip: %d\n%s\n%s", code, o, e)
	}
	// Listing the directory.
	o, e, code = cli(t, "clips", "list", "-from", h.clips, "-data", h.data, "-i", h.idFile)
	if code != 0 || strings.Count(o, "✓") != 2 || !strings.Contains(o, "ring (cut off)") {
		t.Errorf("list: %d\n%s\n%s", code, o, e)
	}
	// Without a pinned key, it refuses, unless -no-verify.
	_, e, code = cli(t, "clips", "open", "-i", h.idFile, "-o", filepath.Join(out, "x.mp4"), h.clipPath(done))
	if code != 1 || !strings.Contains(e, "not pinned") || !strings.Contains(e, "-no-verify") {
		t.Errorf("no pin: %d %s", code, e)
	}
	o, e, code = cli(t, "clips", "open", "-no-verify", "-i", h.idFile, "-o", filepath.Join(out, "x.mp4"), h.clipPath(done))
	if code != 0 || !strings.Contains(e, "NOT verified") {
		t.Errorf("-no-verify: %d %s %s", code, o, e)
	}
}

// TestClipsOpenBadInput: each bad input gets a clear message and leaves no
// output file behind.
func TestClipsOpenBadInput(t *testing.T) {
	noPins(t)
	h := newTestHousehold(t)
	a := h.seal(t, 6, true, 0)
	b := h.seal(t, 6, true, 0)
	other, _ := keys.Generate(keys.Hybrid)
	otherFile := filepath.Join(t.TempDir(), "other.key")
	os.WriteFile(otherFile, other.File(time.Now()), 0o600)
	protected := filepath.Join(t.TempDir(), "protected.key")
	pdata, _ := keys.Protect(h.id.File(time.Now()), "right")
	os.WriteFile(protected, pdata, 0o600)

	copyClip := func(id string, mutate func(clipData, recData []byte) ([]byte, []byte)) string {
		dir := t.TempDir()
		c, _ := os.ReadFile(h.clipPath(id))
		r, _ := os.ReadFile(filepath.Join(h.clips, id+clip.RecordSuffix))
		c, r = mutate(bytes.Clone(c), bytes.Clone(r))
		os.WriteFile(filepath.Join(dir, id+clip.ClipSuffix), c, 0o600)
		if r != nil {
			os.WriteFile(filepath.Join(dir, id+clip.RecordSuffix), r, 0o600)
		}
		return filepath.Join(dir, id+clip.ClipSuffix)
	}
	rb, _ := os.ReadFile(filepath.Join(h.clips, b+clip.RecordSuffix))
	cases := []struct {
		name     string
		identity string
		clip     string
		pass     []string
		want     string
	}{
		{"wrong identity", otherFile, h.clipPath(a), nil, "no identity matched: this clip was sealed to other keys"},
		{"corrupted ciphertext", h.idFile, copyClip(a, func(c, r []byte) ([]byte, []byte) { c[len(c)/2] ^= 0x20; return c, r }), nil, "clip is corrupted at byte"},
		{"truncated ciphertext", h.idFile, copyClip(a, func(c, r []byte) ([]byte, []byte) { return c[:len(c)-5000], r }), nil, "clip is truncated: it has"},
		{"tampered record", h.idFile, copyClip(a, func(c, r []byte) ([]byte, []byte) { r[len(r)-20] ^= 1; return c, r }), nil, "the event record is damaged"},
		{"forged record", h.idFile, copyClip(a, func(c, r []byte) ([]byte, []byte) {
			s, _ := clip.ReadRecord(bytes.NewReader(r), h.id.Identity)
			s.Record.Kind = "motion"
			_, forger, _ := ed25519.GenerateKey(nil)
			var out bytes.Buffer
			s.Record.Seal(&out, []age.Recipient{mustRecipient(t, h.id.Recipient)}, forger)
			return c, out.Bytes()
		}), nil, "signature does not verify"},
		{"record of another clip", h.idFile, copyClip(a, func(c, r []byte) ([]byte, []byte) { return c, rb }), nil, "the event record belongs to clip " + b},
		{"wrong passphrase", protected, h.clipPath(a), []string{"wrong"}, "incorrect passphrase"},
		{"not a clip name", h.idFile, copyNamed(t, h.clipPath(a), "holiday.mp4.age"), nil, "is not named like a clip"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.pass != nil {
				answer(t, tc.pass...)
			}
			out := t.TempDir()
			_, e, code := cli(t, "clips", "open", "-data", h.data, "-i", tc.identity, "-o", filepath.Join(out, "out.mp4"), tc.clip)
			if code != 1 || !strings.Contains(e, tc.want) || !strings.HasPrefix(e, "doorbell: error: ") {
				t.Errorf("exit %d, stderr %q, want %q", code, e, tc.want)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("left behind: %v", entries)
			}
		})
	}
	// The right passphrase opens it.
	answer(t, "right")
	if _, e, code := cli(t, "clips", "open", "-data", h.data, "-i", protected, "-o", filepath.Join(t.TempDir(), "ok.mp4"), h.clipPath(a)); code != 0 {
		t.Errorf("right passphrase: %s", e)
	}
	// An existing output file is never replaced.
	existing := filepath.Join(t.TempDir(), "keep.mp4")
	os.WriteFile(existing, []byte("mine"), 0o600)
	if _, e, code := cli(t, "clips", "open", "-data", h.data, "-i", h.idFile, "-o", existing, h.clipPath(a)); code != 1 || !strings.Contains(e, "already exists") {
		t.Errorf("existing output: %d %s", code, e)
	}
	if b, _ := os.ReadFile(existing); string(b) != "mine" {
		t.Error("an existing file was overwritten")
	}
}

// copyNamed copies the file at path to a new directory as name.
func copyNamed(t *testing.T, path, name string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(out, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}

// Clips recorded before the member was added are not rows of errors: list
// leaves them out, and says so in one line.
func TestPrintListLeavesOutClipsSealedBefore(t *testing.T) {
	var b strings.Builder
	printList(&b, []household.Listed{{ID: strings.Repeat("a", 26), Bytes: 5_700_000, SealedBefore: true}, {ID: strings.Repeat("b", 26), Bytes: 5_700_000, SealedBefore: true}})
	if b.String() != "" {
		t.Errorf("clips from before the member were printed:\n%s", b.String())
	}
	b.Reset()
	printList(&b, []household.Listed{{ID: strings.Repeat("a", 26), SealedBefore: true}, {ID: strings.Repeat("b", 26), Bytes: 10, Sig: household.SigNone}})
	if strings.Contains(b.String(), strings.Repeat("a", 26)) || !strings.Contains(b.String(), strings.Repeat("b", 26)) {
		t.Errorf("list:\n%s", b.String())
	}
}
