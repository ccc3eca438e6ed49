package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"doorbell/devicekey"
	"doorbell/internal/testkit"
	"doorbell/pairing"
	"doorbell/pairing/linkaddr"
	"doorbell/tlscert"
)

// cliBin is the CLI under test, built with CGO_ENABLED=0 as members get it.
var cliBin = &testkit.Binary{Name: "doorbell", Package: ".", Env: []string{"CGO_ENABLED=0"}}

func TestMain(m *testing.M) { testkit.Main(m, cliBin) }

// doorbell runs the CLI.
func doorbell(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(cliBin.Path(), args...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func TestMemberPairTokensRevoke(t *testing.T) {
	dir := t.TempDir()
	testkit.AddMember(t, dir, "anna")
	if err := linkaddr.Save(dir, "127.0.0.1:8555"); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := doorbell(t, "member", "pair", "-data", dir, "-json", "anna")
	if code != 0 {
		t.Fatalf("pair -json: exit %d: %s", code, errOut)
	}
	var p struct {
		Link, Code string
		Expires    time.Time
	}
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		t.Fatalf("pair -json printed %q: %v", out, err)
	}
	if p.Link != "https://127.0.0.1:8555/pair#"+p.Code || len(p.Code) < 26 {
		t.Errorf("link %q, code %q", p.Link, p.Code)
	}
	if d := time.Until(p.Expires); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("expires in %v", d)
	}

	// The daemon redeems it (in-process here: the store is what it runs).
	s := pairing.Open(dir, nil)
	secret, tok, err := s.Pair(p.Code, "iPhone (Safari)")
	if err != nil {
		t.Fatal(err)
	}

	out, errOut, code = doorbell(t, "member", "tokens", "-data", dir)
	if code != 0 || !strings.Contains(out, tok.ID) || !strings.Contains(out, "anna") || !strings.Contains(out, "iPhone (Safari)") || !strings.Contains(out, "LAST USED") {
		t.Fatalf("tokens: exit %d: %s%s", code, out, errOut)
	}
	if strings.Contains(out, secret) || strings.Contains(out, tok.SHA256) {
		t.Error("tokens shows a secret or its hash")
	}
	out, _, _ = doorbell(t, "member", "tokens", "-json", "-data", dir)
	var list []map[string]any
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0]["id"] != tok.ID {
		t.Errorf("tokens -json: %s %v", out, err)
	}

	// Revoke by device name, flags after the argument.
	out, errOut, code = doorbell(t, "member", "revoke", "iphone (safari)", "-data", dir)
	if code != 0 || !strings.Contains(out, "Revoked iPhone (Safari) of anna") {
		t.Fatalf("revoke: exit %d: %s%s", code, out, errOut)
	}
	if _, ok := s.Authorize(secret); ok {
		t.Error("the daemon's store still accepts the revoked token")
	}
	out, _, _ = doorbell(t, "member", "tokens", "-data", dir)
	if !strings.Contains(out, "No paired devices") {
		t.Errorf("tokens after revoke: %s", out)
	}
	_, errOut, code = doorbell(t, "member", "revoke", "-data", dir, "anna")
	if code != 1 || !strings.Contains(errOut, "doorbell: error: no member, device or id \"anna\"") || !strings.Contains(errOut, "doorbell member tokens") {
		t.Errorf("revoke of nothing: exit %d: %s", code, errOut)
	}
}

func TestMemberPairText(t *testing.T) {
	dir := t.TempDir()
	testkit.AddMember(t, dir, "anna")
	_, fp, err := tlscert.Load(dir, "", "", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := doorbell(t, "member", "pair", "-data", dir, "-addr", "doorbell.local", "anna")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "https://doorbell.local:8443/pair#") || !strings.Contains(out, "█") || !strings.Contains(out, fp) {
		t.Errorf("output lacks the link, the QR code or the fingerprint:\n%s", out)
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour escapes written to a pipe")
	}
	if n := pairing.PendingCodes(dir, time.Now()); n != 1 {
		t.Errorf("%d codes pending", n)
	}
	if !strings.Contains(out, "self-signed") {
		t.Errorf("the self-signed certificate is not said to be:\n%s", out)
	}

	// With the household certificate installed, the text says so and
	// gives that certificate's fingerprint.
	s, err := tlscert.Open(dir, "", "", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	leaf, root := testkit.HouseholdCertificate(t, s, "localhost")
	if err := s.InstallHousehold(leaf, root); err != nil {
		t.Fatal(err)
	}
	out, errOut, code = doorbell(t, "member", "pair", "-data", dir, "-addr", "doorbell.local", "anna")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "self-signed") || !strings.Contains(out, "household's root") || !strings.Contains(out, s.Fingerprint()) {
		t.Errorf("with the household certificate:\n%s", out)
	}
}

func TestMemberUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"member"}, 2, "Usage:"},
		{[]string{"member", "frob"}, 2, "unknown command \"member frob\""},
		{[]string{"member", "pair", "-data", dir}, 2, "needs NAME, and got none"},
		{[]string{"member", "pair", "-data", dir, "anna", "ben"}, 2, "takes NAME, but got 2 arguments"},
		{[]string{"member", "pair", "-data", dir, "-bogus", "anna"}, 2, "flag provided but not defined"},
		{[]string{"member", "pair", "-data", dir, "anna\tsmith"}, 2, "control or invisible"},
		{[]string{"member", "pair", "-data", filepath.Join(dir, "nope"), "anna"}, 1, "does not exist; give the doorbell's data directory with -data DIR"},
		{[]string{"member", "tokens", "-data", dir, "extra"}, 2, "takes no arguments"},
		{[]string{"member", "revoke", "-data", dir}, 2, "needs NAME|DEVICE|ID, and got none"},
		{[]string{"device"}, 2, "Usage:"},
		{[]string{"device", "id", "-data", dir}, 1, "the daemon makes it on first start; start doorbelld"},
	} {
		_, errOut, code := doorbell(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("doorbell %q: exit %d, want %d; stderr %q lacks %q", tc.args, code, tc.code, errOut, tc.want)
		}
	}
	out, _, code := doorbell(t, "member", "-h")
	if code != 0 || !strings.Contains(out, "doorbell member pair") {
		t.Errorf("member -h: %d %s", code, out)
	}
}

func TestMemberTokensDamagedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, pairing.TokensFile)
	os.WriteFile(path, []byte("{\n  \"version\": 1,\n  \"tokens\": [\n    {\"id\": 7}\n  ]\n}\n"), 0o600)
	_, errOut, code := doorbell(t, "member", "tokens", "-data", dir)
	if code != 1 || !strings.Contains(errOut, path+":4:") || !strings.Contains(errOut, "fix the file, or remove it") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

func TestDeviceID(t *testing.T) {
	dir := t.TempDir()
	key, err := devicekey.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, fp, err := tlscert.Load(dir, "", "", []string{"localhost"})
	if err != nil {
		t.Fatal(err)
	}
	pub := key.Public().(ed25519.PublicKey)
	out, errOut, code := doorbell(t, "device", "id", "-data", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{fp, devicekey.PublicString(pub), devicekey.Fingerprint(pub)} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %s:\n%s", want, out)
		}
	}
	out, _, _ = doorbell(t, "device", "id", "-json", "-data", dir)
	var id map[string]string
	if err := json.Unmarshal([]byte(out), &id); err != nil || id["tls_sha256"] != fp || id["signing_key"] != devicekey.PublicString(pub) {
		t.Errorf("-json: %s %v", out, err)
	}
	if strings.Contains(out, "PRIVATE") {
		t.Error("printed the private key")
	}
}

// A removed member loses every device, by identity: a device of another
// member named like them stays, and so does a device named like a member
// who has none. Links are made only for members.
func TestMemberRemoveRevokesByIdentity(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"anna", "ben", "carol", "dave"} {
		testkit.AddMember(t, dir, name)
	}
	s := pairing.Open(dir, nil)
	pair := func(member, device string) string {
		t.Helper()
		c, err := pairing.NewCode(dir, member, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		secret, _, err := s.Pair(c.Code, device)
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	carols := pair("carol", "carol's phone")
	annas := pair("anna", "Carol")
	bens := pair("ben", "dave")

	out, errOut, code := doorbell(t, "member", "remove", "-data", dir, "carol")
	if code != 0 || !strings.Contains(out, "Revoked carol's phone of carol") || strings.Contains(out, "of anna") {
		t.Fatalf("member remove carol: exit %d\n%s%s", code, out, errOut)
	}
	if _, ok := s.Authorize(carols); ok {
		t.Error("carol's token still works after member remove carol")
	}
	if _, ok := s.Authorize(annas); !ok {
		t.Error("member remove carol revoked anna's device named Carol")
	}
	out, errOut, code = doorbell(t, "member", "remove", "-data", dir, "dave")
	if code != 0 || strings.Contains(out, "Revoked") {
		t.Fatalf("member remove dave: exit %d\n%s%s", code, out, errOut)
	}
	if _, ok := s.Authorize(bens); !ok {
		t.Error("member remove dave, who had no devices, revoked ben's device named dave")
	}
	for _, who := range []string{"nobody", "carol"} {
		out, errOut, code = doorbell(t, "member", "pair", "-data", dir, who)
		if code != 1 || !strings.Contains(errOut, `no member named "`+who+`"`) || strings.Contains(out, "/pair#") {
			t.Errorf("member pair %s: exit %d, %q, printed %q", who, code, errOut, out)
		}
	}
}

// The link carries the device ID the daemon recorded, and the QR code
// shows the same link.
func TestMemberPairLinkCarriesTheDeviceID(t *testing.T) {
	dir := t.TempDir()
	testkit.AddMember(t, dir, "anna")
	const id = "abcdefghijklmnopqrstuvwxyz"
	if err := linkaddr.Save(dir, "127.0.0.1:8555"); err != nil {
		t.Fatal(err)
	}
	if err := linkaddr.SaveDeviceID(dir, id); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := doorbell(t, "member", "pair", "-data", dir, "-json", "anna")
	var p struct{ Link, Code string }
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.Link != "https://127.0.0.1:8555/pair#code="+p.Code+"&id="+id {
		t.Fatalf("pair -json: exit %d, %q, %s", code, out, errOut)
	}
	if strings.Contains(errOut, "warning") {
		t.Errorf("a warning with the device ID known: %s", errOut)
	}
	if out, _, _ := doorbell(t, "member", "pair", "-data", dir, "anna"); !strings.Contains(out, "&id="+id) {
		t.Errorf("the printed link lacks the device ID:\n%s", out)
	}
}
