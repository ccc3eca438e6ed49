//go:build unix

package setupcard

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"doorbell/crypto/members"
	"doorbell/pairing"
)

func testCard(t *testing.T) *Card {
	t.Helper()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return &Card{
		Version: Version,
		Owner:   Owner{Name: "alice", Recipient: id.Recipient().String()},
		Pairing: Pairing{Code: NewCode(), Expires: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)},
		WiFi:    WiFi{SSID: "Home; \"net\"", PSK: ` pass\word#1`, Country: "GB"},
		SSH:     SSH{Enabled: true},
	}
}

func TestCardRoundTrip(t *testing.T) {
	c := testCard(t)
	data := c.Marshal()
	got, err := Parse("card.toml", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	if *got != *c {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
	}
	x, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	c.Owner.Recipient = x.Recipient().String()
	c.WiFi = WiFi{}
	c.Pairing.Expires = time.Time{}
	if got, err := Parse("card.toml", c.Marshal()); err != nil || *got != *c {
		t.Fatalf("X25519, no Wi-Fi: %+v, %v", got, err)
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		c := NewCode()
		if !codeRE.MatchString(c) || len(c) != 24 {
			t.Fatalf("code %q", c)
		}
		if seen[c] {
			t.Fatalf("code %q twice", c)
		}
		seen[c] = true
	}
}

func TestParseErrorsNameLineAndFix(t *testing.T) {
	good := string(testCard(t).Marshal())
	for _, tc := range []struct {
		name, from, to string
		line           int
		want           string
	}{
		{"syntax", "[owner]", "[owner", 8, "make a new one with doorbell setup-card"},
		{"unknown key", "[ssh]\n", "[ssh]\nport = 22\n", 25, `unknown key "ssh.port"`},
		{"version", "version = 1", "version = 2", 6, "version is 2"},
		{"no owner", `name = "alice"`, `name = ""`, 9, "owner.name is missing"},
		{"bad name", `name = "alice"`, `name = "-alice"`, 9, "owner.name: the member's name"},
		{"bad recipient", `recipient = "age1`, `recipient = "xge1`, 11, "is not an age public key"},
		{"secret key", `recipient = "age1`, `recipient = "AGE-SECRET-KEY-1`, 11, "that is a secret key, not a public key"},
		{"bad code", `code = "`, `code = "x`, 15, "not a pairing code"},
		{"short psk", `psk = `, `psk = "short" # `, 21, "8 to 63"},
		{"country", `country = "GB"`, `country = "Britain"`, 22, "two-letter country code"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := strings.Replace(good, tc.from, tc.to, 1)
			if data == good {
				t.Fatalf("%q not in the card", tc.from)
			}
			_, err := Parse("/boot/firmware/doorbell-setup.toml", []byte(data))
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v, want an *Error", err)
			}
			if e.Line != tc.line || !strings.Contains(e.Msg, tc.want) || !strings.HasPrefix(err.Error(), "/boot/firmware/doorbell-setup.toml:") {
				t.Errorf("got %q (line %d), want line %d and %q", err, e.Line, tc.line, tc.want)
			}
		})
	}
	if _, err := Parse("x", bytes.Repeat([]byte("#"), MaxSize+1)); err == nil || !strings.Contains(err.Error(), "more than a setup card") {
		t.Errorf("huge card: %v", err)
	}
}

func TestSecureRemoveOverwritesBeforeRemoving(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "card")
	secret := []byte("pairing code SECRET-SECRET")
	if err := os.WriteFile(p, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	// A second link to the same inode shows what the blocks hold afterwards.
	witness := filepath.Join(dir, "witness")
	if err := os.Link(p, witness); err != nil {
		t.Fatal(err)
	}
	if err := SecureRemove(p); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("still there: %v", err)
	}
	if left, _ := os.ReadFile(witness); len(left) != 0 {
		t.Fatalf("the file's contents were not erased: %q", left)
	}
	if err := SecureRemove(p); err != nil {
		t.Fatalf("removing a missing file: %v", err)
	}
	// A symbolic link is removed, and its target left alone.
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, secret, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if err := SecureRemove(p); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(target); !bytes.Equal(got, secret) {
		t.Fatal("SecureRemove followed a symbolic link")
	}
}

type fakeSystem struct {
	ssh  bool
	wifi *WiFi
}

func (f *fakeSystem) EnableSSH(context.Context) error { f.ssh = true; return nil }
func (f *fakeSystem) JoinWiFi(_ context.Context, w WiFi) error {
	f.wifi = &w
	return nil
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestStageAppliesSettingsAndHandsOnlyTheOwnerPartOn(t *testing.T) {
	boot, data := t.TempDir(), t.TempDir()
	card := testCard(t)
	bootPath := filepath.Join(boot, FileName)
	if err := os.WriteFile(bootPath, card.Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(data, "setup", FileName)
	sys := &fakeSystem{}
	found, err := Stage(context.Background(), bootPath, staged, -1, -1, DataDir(data), sys, quiet)
	if err != nil || !found {
		t.Fatalf("Stage: %v, %v", found, err)
	}
	if !sys.ssh || sys.wifi == nil || *sys.wifi != card.WiFi {
		t.Errorf("settings not applied: ssh %v, wifi %+v", sys.ssh, sys.wifi)
	}
	if _, err := os.Stat(bootPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("card still on the boot partition: %v", err)
	}
	fi, err := os.Stat(staged)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("staged card mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(filepath.Dir(staged)); di.Mode().Perm() != 0o700 {
		t.Errorf("staging dir mode %v, want 0700", di.Mode().Perm())
	}
	b, _ := os.ReadFile(staged)
	if bytes.Contains(b, []byte(`pass\\word`)) || bytes.Contains(b, []byte("Home")) {
		t.Errorf("the staged card holds the Wi-Fi settings:\n%s", b)
	}
	got, err := Parse(staged, b)
	if err != nil || got.Owner != card.Owner || got.Pairing != card.Pairing {
		t.Errorf("staged card %+v, %v", got, err)
	}

	// Nothing there: nothing done.
	if found, err := Stage(context.Background(), bootPath, staged, -1, -1, DataDir(data), sys, quiet); found || err != nil {
		t.Errorf("no card: %v, %v", found, err)
	}
}

func TestStageAppliesNothingOfAMalformedCard(t *testing.T) {
	boot, data := t.TempDir(), t.TempDir()
	bad := strings.Replace(string(testCard(t).Marshal()), "version = 1", "version = 9", 1)
	bootPath := filepath.Join(boot, FileName)
	if err := os.WriteFile(bootPath, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(data, FileName)
	sys := &fakeSystem{}
	if found, err := Stage(context.Background(), bootPath, staged, -1, -1, DataDir(data), sys, quiet); !found || err != nil {
		t.Fatalf("Stage: %v, %v", found, err)
	}
	if sys.ssh || sys.wifi != nil {
		t.Error("a malformed card's settings were applied")
	}
	if _, err := os.Stat(bootPath); !errors.Is(err, os.ErrNotExist) {
		t.Error("malformed card left on the boot partition")
	}
	if _, err := os.Stat(staged); err != nil {
		t.Errorf("malformed card not handed on for the daemon to report: %v", err)
	}
}

// An installed doorbell (one with members) ignores a card: anyone who can
// reach the SD card must not be able to turn SSH on or move it to their
// Wi-Fi. It says so, erases the card, and stages nothing.
func TestStageIgnoresACardOnceThereAreMembers(t *testing.T) {
	boot, data := t.TempDir(), t.TempDir()
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := members.Add(data, "bob", id.Recipient().String(), time.Now()); err != nil {
		t.Fatal(err)
	}
	bootPath := filepath.Join(boot, FileName)
	if err := os.WriteFile(bootPath, testCard(t).Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	staged := filepath.Join(data, "setup", FileName)
	sys := &fakeSystem{}
	var logged bytes.Buffer
	found, err := Stage(context.Background(), bootPath, staged, -1, -1, DataDir(data), sys, slog.New(slog.NewTextHandler(&logged, nil)))
	if !found || err != nil {
		t.Fatalf("Stage: %v, %v", found, err)
	}
	if sys.ssh || sys.wifi != nil {
		t.Errorf("a card on a doorbell with members changed the system: ssh %v, wifi %+v", sys.ssh, sys.wifi)
	}
	if _, err := os.Stat(staged); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the card was handed to the daemon: %v", err)
	}
	if _, err := os.Stat(bootPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the ignored card (it holds a Wi-Fi passphrase) is still on the boot partition: %v", err)
	}
	if !strings.Contains(logged.String(), "setup card ignored") || !strings.Contains(logged.String(), "level=WARN") {
		t.Errorf("the log does not say the card was ignored:\n%s", logged.String())
	}
	if strings.Contains(logged.String(), "pass") {
		t.Errorf("the log shows the card's passphrase:\n%s", logged.String())
	}

	// A member list that cannot be read: nothing applied, the card kept.
	if err := os.WriteFile(bootPath, testCard(t).Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(members.Path(data), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Stage(context.Background(), bootPath, staged, -1, -1, DataDir(data), sys, quiet); err == nil || !strings.Contains(err.Error(), "not applied") {
		t.Errorf("Stage with an unreadable member list: %v", err)
	}
	if sys.ssh || sys.wifi != nil {
		t.Error("a card was applied though the member list could not be read")
	}
	if _, err := os.Stat(bootPath); err != nil {
		t.Errorf("the card was not kept for the next boot: %v", err)
	}
}

func TestHostSystemWritesAPrivateNetworkManagerConnection(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc/NetworkManager/system-connections"), 0o755); err != nil {
		t.Fatal(err)
	}
	var ran []string
	h := HostSystem{Root: root, Run: func(_ context.Context, name string, args ...string) error {
		ran = append(ran, name+" "+strings.Join(args, " "))
		return nil
	}}
	if err := h.JoinWiFi(context.Background(), WiFi{SSID: "Café;1", PSK: " pass\\word", Country: "FR"}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, NMConnection)
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("connection file: %v, %v", fi, err)
	}
	b, _ := os.ReadFile(p)
	for _, want := range []string{"type=wifi", "ssid=67;97;102;195;169;59;49;", "key-mgmt=wpa-psk", `psk=\spass\\word`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("connection lacks %q:\n%s", want, b)
		}
	}
	if len(ran) != 2 || !strings.HasPrefix(ran[0], "nmcli connection load") {
		t.Errorf("commands: %q", ran)
	}
	ran = nil
	if err := h.EnableSSH(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ran, "|") != "ssh-keygen -A|systemctl enable ssh.service|systemctl start --no-block ssh.service" {
		t.Errorf("commands: %q", ran)
	}
	if err := (HostSystem{Root: t.TempDir()}).JoinWiFi(context.Background(), WiFi{SSID: "x"}); err == nil || !strings.Contains(err.Error(), "NetworkManager is not installed") {
		t.Errorf("without NetworkManager: %v", err)
	}
}

type fakeHousehold struct {
	members []Member
	codes   map[string]string
	failAdd error
}

func (f *fakeHousehold) Members() ([]Member, error) { return f.members, nil }
func (f *fakeHousehold) AddOwner(name, recipient string) error {
	if f.failAdd != nil {
		return f.failAdd
	}
	f.members = append(f.members, Member{name, recipient})
	return nil
}
func (f *fakeHousehold) AcceptPairingCode(code, member string, _ time.Time) error {
	if f.codes == nil {
		f.codes = map[string]string{}
	}
	f.codes[code] = member
	return nil
}

func stagedCard(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestImportMakesTheOwnerTheFirstMember(t *testing.T) {
	card := testCard(t)
	p := stagedCard(t, card.Marshal())
	h := &fakeHousehold{}
	out, err := Import(p, h, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))
	if out != Imported || err != nil {
		t.Fatalf("Import: %v, %v", out, err)
	}
	if len(h.members) != 1 || h.members[0] != (Member{"alice", card.Owner.Recipient}) || h.codes[card.Pairing.Code] != "alice" {
		t.Fatalf("household: %+v %v", h.members, h.codes)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("card not erased after the import")
	}
	if out, err := Import(p, h, time.Now()); out != NoCard || err != nil {
		t.Fatalf("second start: %v, %v", out, err)
	}
}

func TestImportNeverTakesOverAPairedDevice(t *testing.T) {
	card := testCard(t)
	p := stagedCard(t, card.Marshal())
	h := &fakeHousehold{members: []Member{{"bob", card.Owner.Recipient}}}
	out, err := Import(p, h, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC))
	if out != Ignored || err != nil || len(h.members) != 1 || len(h.codes) != 0 {
		t.Fatalf("Import: %v, %v, %+v %v", out, err, h.members, h.codes)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("ignored card not erased")
	}
}

func TestImportFinishesAnImportCutShort(t *testing.T) {
	card := testCard(t)
	p := stagedCard(t, card.Marshal())
	h := &fakeHousehold{members: []Member{{"alice", card.Owner.Recipient}}}
	if out, err := Import(p, h, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)); out != Imported || err != nil || h.codes[card.Pairing.Code] != "alice" || len(h.members) != 1 {
		t.Fatalf("Import: %v, %v, %+v %v", out, err, h.members, h.codes)
	}
}

func TestImportRejectsAMalformedCardAndKeepsSayingWhy(t *testing.T) {
	bad := strings.Replace(string(testCard(t).Marshal()), `name = "alice"`, `name = "-alice"`, 1)
	p := stagedCard(t, []byte(bad))
	h := &fakeHousehold{}
	out, err := Import(p, h, time.Now())
	if out != Rejected || err == nil || !strings.Contains(err.Error(), p+":9: owner.name") {
		t.Fatalf("Import: %v, %v", out, err)
	}
	if len(h.members) != 0 || len(h.codes) != 0 {
		t.Fatal("a malformed card changed the household")
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("malformed card not erased")
	}
	// After a restart, with no card, the device still says why it is unpaired.
	out, err2 := Import(p, h, time.Now())
	if out != Rejected || err2 == nil || !strings.Contains(err2.Error(), err.Error()) || !strings.Contains(err2.Error(), "earlier start") {
		t.Fatalf("after restart: %v, %v", out, err2)
	}
	// A good card clears it.
	card := testCard(t)
	if err := os.WriteFile(p, card.Marshal(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := Import(p, h, time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)); out != Imported || err != nil {
		t.Fatalf("good card: %v, %v", out, err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), FailedName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the old reason was kept after a good card")
	}

	expired := testCard(t)
	expired.Pairing.Expires = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	p = stagedCard(t, expired.Marshal())
	if out, err := Import(p, &fakeHousehold{}, time.Now()); out != Rejected || err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired card: %v, %v", out, err)
	}
}

// The real household: the members registry and the pairing codes in a data
// directory. The owner is the first member, and the card's code pairs one
// phone, once.
func TestImportIntoADataDirectory(t *testing.T) {
	dir := t.TempDir()
	card := testCard(t)
	p := filepath.Join(dir, "setup", FileName)
	if err := writePrivate(p, card.Marshal(), -1, -1); err != nil {
		t.Fatal(err)
	}
	if out, err := Import(p, DataDir(dir), time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)); out != Imported || err != nil {
		t.Fatalf("Import: %v, %v", out, err)
	}
	reg, err := members.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ms := reg.Members(); len(ms) != 1 || ms[0].Name != "alice" || ms[0].Recipient != card.Owner.Recipient {
		t.Fatalf("members: %+v", ms)
	}
	store := pairing.Open(dir, quiet)
	if _, tok, err := store.Pair(card.Pairing.Code, "Alice's phone"); err != nil || tok.Member != "alice" {
		t.Fatalf("pairing with the card's code: %+v, %v", tok, err)
	}
	if _, _, err := store.Pair(card.Pairing.Code, "someone else"); !errors.Is(err, pairing.ErrCodeUsed) {
		t.Fatalf("the card's code worked twice: %v", err)
	}
	// A second card cannot add another owner.
	other := testCard(t)
	other.Owner.Name = "mallory"
	if err := writePrivate(p, other.Marshal(), -1, -1); err != nil {
		t.Fatal(err)
	}
	if out, err := Import(p, DataDir(dir), time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)); out != Ignored || err != nil {
		t.Fatalf("second card: %v, %v", out, err)
	}
	if reg, _ := members.Load(dir); reg.Len() != 1 {
		t.Fatalf("a second card changed the members: %+v", reg.Members())
	}
	if _, _, err := store.Pair(other.Pairing.Code, "mallory's phone"); err == nil {
		t.Fatal("a second card's code pairs")
	}
}
