//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"doorbell/crypto/keys"
	"doorbell/pairing"
)

// Run with sudo on the device, the CLI leaves files the daemon's user owns.
func TestRootGivesFilesToTheDataDirOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	dir := t.TempDir()
	const uid, gid = 4242, 4243
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	id, err := keys.Generate(keys.Hybrid)
	if err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := doorbell(t, "member", "add", "-data", dir, "anna", id.Recipient); code != 0 {
		t.Fatalf("member add: exit %d: %s", code, errOut)
	}
	out, errOut, code := doorbell(t, "member", "pair", "-data", dir, "-json", "anna")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var p struct{ Code string }
	json.Unmarshal([]byte(out), &p)
	if _, _, err := pairing.Open(dir, nil).Pair(p.Code, "phone"); err != nil {
		t.Fatal(err)
	}
	if _, _, code := doorbell(t, "member", "revoke", "-data", dir, "phone"); code != 0 {
		t.Fatal("revoke failed")
	}
	filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid || st.Gid != gid {
			t.Errorf("%s is owned by %d:%d, want %d:%d", path, st.Uid, st.Gid, uid, gid)
		}
		return nil
	})
}
