package members

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"doorbell/crypto/keys"
)

func newKey(t *testing.T, k keys.Kind) string {
	t.Helper()
	id, err := keys.Generate(k)
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient
}

func TestAddListRemove(t *testing.T) {
	dir := t.TempDir()
	a, b := newKey(t, keys.Hybrid), newKey(t, keys.Hybrid)
	now := time.Now()
	if _, err := Add(dir, "alice", a, now); err != nil {
		t.Fatal(err)
	}
	r, err := Add(dir, "bob", b, now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Len() != 2 || r.Kind() != keys.Hybrid || len(r.Recipients()) != 2 || strings.Join(r.Names(), ",") != "alice,bob" {
		t.Fatalf("registry: %+v", r.Members())
	}
	fi, err := os.Stat(Path(dir))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode: %v %v", fi, err)
	}
	loaded, err := Load(dir)
	if err != nil || loaded.Len() != 2 {
		t.Fatalf("Load: %v", err)
	}
	if m, ok := loaded.Lookup("bob"); !ok || m.Recipient != b {
		t.Error("Lookup bob")
	}
	alice, _ := loaded.Find("ALICE")
	if _, gone, err := Remove(dir, "Alice"); err != nil || gone.Name != "alice" || gone.ID() != alice.ID() { // names match ignoring case, as in pairing
		t.Fatalf("Remove Alice: %+v %v", gone, err)
	}
	if _, _, err := Remove(dir, "carol"); err == nil || !strings.Contains(err.Error(), "the members are: bob") {
		t.Fatalf("removing a stranger: %v", err)
	}
	loaded, _ = Load(dir)
	if _, ok := loaded.ByID(alice.ID()); ok || len(alice.ID()) != 16 {
		t.Errorf("alice (id %q) is still found by her id", alice.ID())
	}
	if bob, _ := loaded.Find("Bob"); bob.ID() == alice.ID() {
		t.Error("two members with one id")
	}
	if strings.Join(loaded.Names(), ",") != "bob" {
		t.Fatalf("after remove: %v", loaded.Names())
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestRefusals(t *testing.T) {
	dir := t.TempDir()
	h, c := newKey(t, keys.Hybrid), newKey(t, keys.Classic)
	if _, err := Add(dir, "alice", h, time.Now()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(Path(dir))
	cases := []struct{ name, member, key, want string }{
		{"duplicate name", "alice", newKey(t, keys.Hybrid), `already a member named "alice"`},
		{"duplicate name, other case", "Alice", newKey(t, keys.Hybrid), "already a member"},
		{"same key twice", "bob", h, `same public key as "alice"`},
		{"mixing", "bob", c, "age refuses to mix"},
		{"malformed key", "bob", h[:100], "cut short"},
		{"bad name", "bob\x00", newKey(t, keys.Hybrid), "control or invisible characters"},
		{"flag-like name", "-bob", newKey(t, keys.Hybrid), "starts with '-'"},
		{"empty name", "", newKey(t, keys.Hybrid), "name is empty"},
	}
	for _, tc := range cases {
		_, err := Add(dir, tc.member, tc.key, time.Now())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %q", tc.name, err, tc.want)
		}
	}
	if after, _ := os.ReadFile(Path(dir)); string(after) != string(before) {
		t.Error("a refused change altered the file")
	}
	if _, err := Add(t.TempDir()+"/nope", "x", h, time.Now()); err == nil || !strings.Contains(err.Error(), "-data") {
		t.Errorf("missing data dir: %v", err)
	}
}

func TestClassicHousehold(t *testing.T) {
	dir := t.TempDir()
	if _, err := Add(dir, "a", newKey(t, keys.Classic), time.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := Add(dir, "b", newKey(t, keys.Hybrid), time.Now())
	if err == nil || !strings.Contains(err.Error(), "doorbell keygen -classic") {
		t.Fatalf("hybrid into classic: %v", err)
	}
}

func TestDamagedFileIsReported(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(Path(dir), []byte(`{"members":[{"name":"a","recipient":"age1nope"}]}`), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), Path(dir)) {
		t.Fatalf("got %v", err)
	}
	os.WriteFile(Path(dir), []byte(`{"members": [`), 0o600)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "is damaged") {
		t.Fatalf("got %v", err)
	}
	if r, err := Load(t.TempDir()); err != nil || r.Len() != 0 {
		t.Fatalf("missing file is an empty household: %v", err)
	}
}

func TestConcurrentAddsAreAllKept(t *testing.T) {
	dir := t.TempDir()
	ks := make([]string, 6)
	for i := range ks {
		ks[i] = newKey(t, keys.Classic)
	}
	var wg sync.WaitGroup
	for i := range ks {
		wg.Go(func() {
			if _, err := Add(dir, string(rune('a'+i)), ks[i], time.Now()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	r, err := Load(dir)
	if err != nil || r.Len() != len(ks) {
		t.Fatalf("%d members after concurrent adds, want %d (%v)", r.Len(), len(ks), err)
	}
}

// The watcher polls on a ticker, so the test runs in a synctest bubble: its
// clock moves only when every goroutine waits, and a loaded machine cannot
// make a poll late or land one in the middle of a write.
func TestWatcherPicksUpChanges(t *testing.T) {
	alice := newKey(t, keys.Hybrid)
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		w, err := NewWatcher(dir, 20*time.Millisecond)
		if err != nil || w.Current().Len() != 0 {
			t.Fatal(err)
		}
		changes := make(chan *Registry, 10)
		w.OnChange(func(r *Registry) { changes <- r })
		errs := make(chan error, 10)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go w.Run(ctx, func(err error) { errs <- err })

		Add(dir, "alice", alice, time.Now())
		select {
		case r := <-changes:
			if r.Len() != 1 {
				t.Fatalf("change has %d members", r.Len())
			}
		case <-time.After(2 * time.Second):
			t.Fatal("watcher missed the change for 2 s")
		}
		// A damaged file keeps the last good registry and is reported once.
		os.WriteFile(Path(dir), []byte("{"), 0o600)
		select {
		case err := <-errs:
			if !strings.Contains(err.Error(), "damaged") {
				t.Fatal(err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("damage not reported")
		}
		time.Sleep(100 * time.Millisecond) // five more polls of the same damage
		if len(errs) != 0 {
			t.Error("the same damage was reported again")
		}
		if w.Current().Len() != 1 || w.Err() == nil {
			t.Error("the last good registry was not kept")
		}
		os.Remove(Path(dir))
		select {
		case r := <-changes:
			if r.Len() != 0 {
				t.Fatal("removed file should be an empty household")
			}
		case <-time.After(2 * time.Second):
			t.Fatal("removal missed")
		}
		cancel()
	})
}
