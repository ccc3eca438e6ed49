package pairing

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"doorbell/crypto/members"
	"doorbell/internal/testkit"
)

// household is a data directory whose household has the members the
// tests pair devices for.
func household(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"anna", "ben", "alice", "mallory"} {
		testkit.AddMember(t, dir, name)
	}
	return dir
}

func newCode(t *testing.T, dir, member string, now time.Time) string {
	t.Helper()
	c, err := NewCode(dir, member, now)
	if err != nil {
		t.Fatal(err)
	}
	return c.Code
}

func pair(t *testing.T, s *Store, member, device string) (string, Token) {
	t.Helper()
	secret, tok, err := s.Pair(newCode(t, s.dir, member, s.now()), device)
	if err != nil {
		t.Fatal(err)
	}
	return secret, tok
}

func TestCodesAreRandomHashedAndOneTime(t *testing.T) {
	dir := household(t)
	now := time.Now()
	c1, err := NewCode(dir, "anna", now)
	if err != nil {
		t.Fatal(err)
	}
	c2, _ := NewCode(dir, "anna", now)
	if c1.Code == c2.Code || len(c1.Code) != 32 || !validCode(c1.Code) {
		t.Fatalf("codes %q %q", c1.Code, c2.Code)
	}
	if d := now.Add(CodeTTL).Sub(c1.Expires); d < 0 || d >= time.Second {
		t.Errorf("expires %v", c1.Expires)
	}
	// Only the hash is stored.
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if strings.Contains(path, c1.Code) {
			t.Errorf("a file name holds the code: %s", path)
		}
		if !d.IsDir() {
			b, _ := os.ReadFile(path)
			if strings.Contains(string(b), c1.Code) {
				t.Errorf("%s holds the code", path)
			}
			if fi, _ := d.Info(); fi.Mode().Perm() != 0o600 {
				t.Errorf("%s has mode %v", path, fi.Mode().Perm())
			}
		}
		return nil
	})
	if n := PendingCodes(dir, now); n != 2 {
		t.Errorf("PendingCodes = %d", n)
	}

	member, err := redeemCode(dir, strings.ToUpper(c1.Code), now.Add(CodeTTL-time.Second))
	if err != nil || member != "anna" {
		t.Fatalf("redeem: %q %v", member, err)
	}
	if _, err := redeemCode(dir, c1.Code, now); !errors.Is(err, ErrCodeUsed) {
		t.Errorf("second use: %v", err)
	}
	if _, err := redeemCode(dir, c2.Code, now.Add(CodeTTL)); !errors.Is(err, ErrCodeExpired) {
		t.Errorf("expired: %v", err)
	}
	// Expired stays expired; it is not consumed by the attempt.
	if _, err := redeemCode(dir, c2.Code, now.Add(CodeTTL+time.Minute)); !errors.Is(err, ErrCodeExpired) {
		t.Errorf("expired again: %v", err)
	}
	for _, bad := range []string{"", "abc", strings.Repeat("a", 32), strings.Repeat("1", 32), c1.Code + "a"} {
		if _, err := redeemCode(dir, bad, now); !errors.Is(err, ErrCodeUnknown) {
			t.Errorf("redeem %q: %v", bad, err)
		}
	}
	// Old files are swept when new codes are made.
	NewCode(dir, "ben", now.Add(CodeTTL+keepUsed+time.Minute))
	entries, _ := os.ReadDir(filepath.Join(dir, CodesDir))
	if len(entries) != 1 {
		t.Errorf("%d code files after the sweep, want 1", len(entries))
	}
}

func TestACodeWorksOnceUnderRaces(t *testing.T) {
	dir := household(t)
	s := Open(dir, nil)
	code := newCode(t, dir, "anna", time.Now())
	var ok, used atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Go(func() {
			_, _, err := s.Pair(code, "phone")
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, ErrCodeUsed):
				used.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 1 || used.Load() != 7 {
		t.Fatalf("%d pairings and %d refusals, want 1 and 7", ok.Load(), used.Load())
	}
	if tokens, _ := List(dir); len(tokens) != 1 {
		t.Errorf("%d tokens", len(tokens))
	}
}

func TestMemberNames(t *testing.T) {
	for _, bad := range []string{"", "-json", " anna", "anna\n", "a\x00b", strings.Repeat("x", 65), "\xff"} {
		if _, err := NewCode(t.TempDir(), bad, time.Now()); err == nil {
			t.Errorf("member %q accepted", bad)
		}
	}
	for _, good := range []string{"anna", "Anna Smith", "Zoë", "o'brien"} {
		if err := members.CheckName(good); err != nil {
			t.Errorf("member %q: %v", good, err)
		}
	}
	for in, want := range map[string]string{
		"Anna's phone":          "Anna's phone",
		"  a\tb\n c  ":          "a b c",
		"":                      "phone",
		"\u200b\x01":            "phone",
		strings.Repeat("é", 70): strings.Repeat("é", 64),
	} {
		if got := CleanDevice(in); got != want {
			t.Errorf("CleanDevice(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPairAuthorizeRevoke(t *testing.T) {
	dir := household(t)
	s := Open(dir, nil)
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	var revoked []string
	var mu sync.Mutex
	gotRevoke := make(chan struct{}, 10)
	s.OnRevoke(func(t Token) {
		mu.Lock()
		revoked = append(revoked, t.ID)
		mu.Unlock()
		gotRevoke <- struct{}{}
	})

	annaPhone, anna1 := pair(t, s, "anna", "iPhone (Safari)")
	annaTablet, anna2 := pair(t, s, "anna", "iPhone (Safari)")
	benPhone, ben := pair(t, s, "ben", "Pixel")
	if anna2.Device != "iPhone (Safari) 2" {
		t.Errorf("second device of the same name: %q", anna2.Device)
	}
	if len(annaPhone) != 43 {
		t.Errorf("token %q is not 256 bits in base64url", annaPhone)
	}
	data, _ := os.ReadFile(filepath.Join(dir, TokensFile))
	for _, secret := range []string{annaPhone, annaTablet, benPhone} {
		if strings.Contains(string(data), secret) {
			t.Fatal("the token file holds a token")
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, TokensFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v", fi.Mode().Perm())
	}
	for secret, want := range map[string]string{annaPhone: anna1.ID, annaTablet: anna2.ID, benPhone: ben.ID} {
		if id, ok := s.Authorize(secret); !ok || id != want {
			t.Errorf("Authorize = %q %v, want %q", id, ok, want)
		}
	}
	for _, bad := range []string{"", "x", annaPhone + "x", strings.ToUpper(annaPhone), strings.Repeat("a", 1000)} {
		if _, ok := s.Authorize(bad); ok {
			t.Errorf("Authorize(%q) accepted", bad)
		}
	}

	// The CLI revokes by device name (another process, in effect: it
	// only rewrites the file). The daemon's store refuses at once,
	// without waiting for Watch.
	gone, _, err := Revoke(dir, "iphone (safari) 2")
	if err != nil || len(gone) != 1 || gone[0].ID != anna2.ID {
		t.Fatalf("Revoke by device: %v %v", gone, err)
	}
	if _, ok := s.Authorize(annaTablet); ok {
		t.Error("revoked token still accepted")
	}
	if _, ok := s.Authorize(annaPhone); !ok {
		t.Error("the member's other device was revoked too")
	}
	select {
	case <-gotRevoke:
	case <-time.After(time.Second):
		t.Fatal("OnRevoke not called")
	}

	// By member: all of the member's devices, and the member's pending codes.
	pending := newCode(t, dir, "anna", time.Now())
	gone, codes, err := Revoke(dir, "ANNA")
	if err != nil || len(gone) != 1 || codes != 1 {
		t.Fatalf("Revoke by member: %v %d %v", gone, codes, err)
	}
	if _, _, err := s.Pair(pending, "x"); !errors.Is(err, ErrCodeUnknown) {
		t.Errorf("a revoked member's code still works: %v", err)
	}
	// By id.
	if gone, _, err := Revoke(dir, ben.ID); err != nil || len(gone) != 1 {
		t.Fatalf("Revoke by id: %v %v", gone, err)
	}
	if _, _, err := Revoke(dir, "carol"); !errors.Is(err, ErrNoMatch) {
		t.Errorf("Revoke of nobody: %v", err)
	}
	for _, secret := range []string{annaPhone, benPhone} {
		if _, ok := s.Authorize(secret); ok {
			t.Error("revoked token accepted")
		}
	}
	deadline := time.After(time.Second)
	for n := 1; n < 3; n++ {
		select {
		case <-gotRevoke:
		case <-deadline:
			t.Fatal("OnRevoke not called for every token")
		}
	}
	mu.Lock()
	if len(revoked) != 3 {
		t.Errorf("OnRevoke saw %v", revoked)
	}
	mu.Unlock()
}

func TestRevokeAmbiguousName(t *testing.T) {
	dir := household(t)
	testkit.AddMember(t, dir, "carol")
	s := Open(dir, nil)
	pair(t, s, "anna", "Pixel")
	pair(t, s, "ben", "Pixel")
	pair(t, s, "carol", "ben")
	newCode(t, dir, "anna", time.Now())
	_, _, err := Revoke(dir, "pixel")
	var amb *AmbiguousError
	if !errors.As(err, &amb) || !strings.Contains(err.Error(), "by its id") {
		t.Errorf("Revoke(pixel): %v", err)
	}
	if tokens, _ := List(dir); len(tokens) != 3 {
		t.Errorf("an ambiguous revoke removed something")
	}
	if n := PendingCodes(dir, time.Now()); n != 1 {
		t.Errorf("an ambiguous revoke left %d pairing codes, want 1", n)
	}
	// A member's name means the member, not a device that is named so.
	gone, _, err := Revoke(dir, "Ben")
	if err != nil || len(gone) != 1 || gone[0].Member != "ben" || gone[0].Device != "Pixel" {
		t.Fatalf("Revoke(Ben) = %+v, %v; want ben's Pixel only", gone, err)
	}
	if tokens, _ := List(dir); len(tokens) != 2 || !slices.ContainsFunc(tokens, func(t Token) bool { return t.Member == "carol" && t.Device == "ben" }) {
		t.Errorf("revoking member ben touched carol's device named ben: %+v", tokens)
	}
}

// Tokens belong to a member by identity: removing a member refuses all of
// their devices at once, touches nobody else's (whatever the devices are
// called), and pairing for someone who is not a member is refused.
func TestMembersOwnTheirDevicesByIdentity(t *testing.T) {
	dir := household(t)
	testkit.AddMember(t, dir, "carol")
	testkit.AddMember(t, dir, "dave")
	s := Open(dir, nil)
	carols, carolTok := pair(t, s, "carol", "carol's phone")
	annas, _ := pair(t, s, "anna", "Carol") // anna named her phone "Carol"
	bens, _ := pair(t, s, "ben", "dave")
	pending := newCode(t, dir, "carol", time.Now())
	revoked := make(chan Token, 4)
	s.OnRevoke(func(t Token) { revoked <- t })

	// Taking carol out of the member list is the one step that ends her access.
	if _, _, err := members.Remove(dir, "carol"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Authorize(carols); ok {
		t.Error("a removed member's token still works")
	}
	select {
	case got := <-revoked:
		if got.ID != carolTok.ID {
			t.Errorf("OnRevoke got %s (%s of %s), want carol's phone", got.ID, got.Device, got.Member)
		}
	case <-time.After(time.Second):
		t.Error("OnRevoke not told of the removed member's device within a second")
	}
	if _, _, err := s.Pair(pending, "carol's laptop"); !errors.Is(err, ErrNotMember) {
		t.Errorf("a code made before carol was removed: %v, want ErrNotMember", err)
	}
	// Cleaning up removes only hers, by identity.
	gone, _, err := RevokeMember(dir, members.Member{Name: "carol", Recipient: "nobody"})
	if err != nil || len(gone) != 0 {
		t.Errorf("RevokeMember of another carol (another key) removed %+v, %v", gone, err)
	}
	for _, who := range []string{"anna", "ben"} {
		if _, ok := s.Authorize(map[string]string{"anna": annas, "ben": bens}[who]); !ok {
			t.Errorf("%s's device lost access when carol was removed", who)
		}
	}
	// dave has no devices: revoking him touches ben's device named "dave".
	gone, _, err = Revoke(dir, "dave")
	if !errors.Is(err, ErrNoMatch) || len(gone) != 0 {
		t.Errorf("Revoke(dave), who has no devices: %+v, %v; want ErrNoMatch", gone, err)
	}
	if _, ok := s.Authorize(bens); !ok {
		t.Error("revoking member dave revoked ben's device named dave")
	}
	// Codes only for members.
	if _, err := NewCode(dir, "nobody", time.Now()); err == nil || !strings.Contains(err.Error(), "no member named") {
		t.Errorf("NewCode for a stranger: %v", err)
	}
	if _, err := NewCode(dir, "carol", time.Now()); err == nil {
		t.Error("NewCode for a removed member worked")
	}
}

func TestConcurrentWritersLoseNothing(t *testing.T) {
	dir := household(t)
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Go(func() {
			if _, _, err := add(dir, members.Member{Name: "anna"}, fmt.Sprint("phone ", i), "", time.Now()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	tokens, err := List(dir)
	if err != nil || len(tokens) != 16 {
		t.Fatalf("%d tokens after 16 concurrent pairings: %v", len(tokens), err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestDamagedTokenFileFailsClosed(t *testing.T) {
	dir := household(t)
	s := Open(dir, nil)
	secret, _ := pair(t, s, "anna", "phone")
	path := filepath.Join(dir, TokensFile)
	good, _ := os.ReadFile(path)

	if err := os.WriteFile(path, []byte(`{"version":1,"tokens":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Authorize(secret); ok {
		t.Error("token accepted while the file is damaged")
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("Err = %v", err)
	}
	if st := s.Status(); st.Error == "" || st.PairedDevices != 0 {
		t.Errorf("Status = %+v", st)
	}
	// The CLI refuses to overwrite what it cannot read.
	if _, _, err := Revoke(dir, "anna"); err == nil || !strings.Contains(err.Error(), "fix the file") {
		t.Errorf("Revoke on a damaged file: %v", err)
	}
	if _, err := List(dir); err == nil {
		t.Error("List of a damaged file")
	}

	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Authorize(secret); !ok || s.Err() != nil {
		t.Errorf("not accepted again after the fix: %v", s.Err())
	}
	// A removed file revokes everything.
	os.Remove(path)
	if _, ok := s.Authorize(secret); ok {
		t.Error("accepted after the token file was removed")
	}
}

func TestParseTokensErrors(t *testing.T) {
	ok := `{"id":"0123456789abcdef","member":"anna","device":"phone","sha256":"` + strings.Repeat("ab", 32) + `","paired":"2026-01-01T00:00:00Z"}`
	for name, tc := range map[string]struct{ data, want string }{
		"syntax":       {"{\n\"version\": 1,\n\"tokens\": [,]}", "tokens.json:3:"},
		"version":      {`{"version":2,"tokens":[]}`, "version is 2"},
		"unknown key":  {`{"version":1,"tokens":[],"extra":1}`, "unknown field"},
		"type":         {`{"version":"1","tokens":[]}`, "tokens.json:1:"},
		"trailing":     {`{"version":1,"tokens":[]} {}`, "text after"},
		"short id":     {`{"version":1,"tokens":[` + strings.Replace(ok, "0123456789abcdef", "0123", 1) + `]}`, "token 1 (id 0123): the id is not 16 hex digits"},
		"dup id":       {`{"version":1,"tokens":[` + ok + `,` + strings.Replace(ok, "abab", "cdcd", 1) + `]}`, "token 2 (id 0123456789abcdef): the id appears twice"},
		"dup hash":     {`{"version":1,"tokens":[` + ok + `,` + strings.Replace(ok, "0123", "4567", 1) + `]}`, "sha256 appears twice"},
		"bad hash":     {`{"version":1,"tokens":[` + strings.Replace(ok, "abab", "ABAB", 1) + `]}`, "sha256 is not 64 hex"},
		"no member":    {`{"version":1,"tokens":[` + strings.Replace(ok, `"anna"`, `""`, 1) + `]}`, "member's name is empty"},
		"no time":      {`{"version":1,"tokens":[` + strings.Replace(ok, `,"paired":"2026-01-01T00:00:00Z"`, ``, 1) + `]}`, "paired time is missing"},
		"dirty device": {`{"version":1,"tokens":[` + strings.Replace(ok, `"phone"`, `"a\u0000b"`, 1) + `]}`, "not clean"},
	} {
		_, err := ParseTokens("tokens.json", []byte(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
	if tokens, err := ParseTokens("tokens.json", []byte(`{"version":1,"tokens":[`+ok+`]}`)); err != nil || len(tokens) != 1 {
		t.Errorf("valid file: %v", err)
	}
}

func TestWatchSeesChangesAndSavesLastUse(t *testing.T) {
	dir := household(t)
	s := Open(dir, nil)
	secret, tok := pair(t, s, "anna", "phone")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx); close(done) }()
	if _, ok := s.Authorize(secret); !ok {
		t.Fatal("not authorized")
	}
	revoked := make(chan Token, 1)
	s.OnRevoke(func(t Token) { revoked <- t })
	start := time.Now()
	// Revoke through a path the stat check cannot see: same size, same
	// mtime, same inode (rewritten in place).
	path := filepath.Join(dir, TokensFile)
	fi, _ := os.Stat(path)
	data, _ := os.ReadFile(path)
	edited := strings.Replace(string(data), tok.SHA256, strings.Repeat("0", 64), 1)
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chtimes(path, fi.ModTime(), fi.ModTime())
	select {
	case got := <-revoked:
		if got.ID != tok.ID {
			t.Errorf("revoked %s", got.ID)
		}
		if d := time.Since(start); d > 2*PollInterval+100*time.Millisecond {
			t.Errorf("Watch took %v", d)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Watch did not see the change")
	}
	cancel()
	<-done
	s.SaveUsed()
	tokens, _ := List(dir)
	if len(tokens) != 1 || tokens[0].LastUsed.IsZero() || time.Since(tokens[0].LastUsed) > 25*time.Hour {
		t.Errorf("last use not recorded: %+v", tokens)
	}
	// Only the day is kept.
	if u := tokens[0].LastUsed.UTC(); !u.Equal(u.Truncate(24 * time.Hour)) {
		t.Errorf("last use kept as %v, more than the day", u)
	}
}

func TestTooManyTokens(t *testing.T) {
	dir := household(t)
	err := update(dir, func([]Token) ([]Token, error) {
		var ts []Token
		for i := 0; i < MaxTokens; i++ {
			ts = append(ts, Token{ID: fmt.Sprintf("%016x", i), Member: "m", Device: "d", SHA256: fmt.Sprintf("%064x", i), Paired: time.Now()})
		}
		return ts, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s := Open(dir, nil)
	code := newCode(t, dir, "anna", time.Now())
	if _, _, err := s.Pair(code, "phone"); err == nil || !strings.Contains(err.Error(), "revoke") {
		t.Fatalf("pairing past the limit: %v", err)
	}
	// The code was given back: it works once room is made.
	Revoke(dir, "m")
	if _, _, err := s.Pair(code, "phone"); err != nil {
		t.Errorf("code not given back after a failed pairing: %v", err)
	}
}

// A last-use file that holds JSON null (damaged, or written by hand) does
// not break authorization: it is as good as none.
func TestDamagedLastUseFileIsIgnored(t *testing.T) {
	dir := household(t)
	if err := os.WriteFile(filepath.Join(dir, UsedFile), []byte("null\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := Open(dir, nil)
	secret, tok := pair(t, s, "anna", "phone")
	if id, ok := s.Authorize(secret); !ok || id != tok.ID {
		t.Fatalf("Authorize = %q %v, want %q true", id, ok, tok.ID)
	}
}
