package main

import (
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	"doorbell/devicekey"
	"doorbell/internal/testkit"
	"doorbell/pairing"
	"doorbell/tlscert"
)

// After a copy of the SD card: rekey makes new keys and revokes every
// paired device (issue 13, item 4).
func TestDeviceRekey(t *testing.T) {
	data := t.TempDir()
	oldKey, err := devicekey.LoadOrCreate(data)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlscert.Load(data, "", "", []string{"localhost"}); err != nil {
		t.Fatal(err)
	}
	oldFP, _ := tlscert.ReadFingerprint(data, "")
	testkit.AddMember(t, data, "anna")
	code, err := pairing.NewCode(data, "anna", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	store := pairing.Open(data, nil)
	token, _, err := store.Pair(code.Code, "Anna's phone")
	if err != nil {
		t.Fatal(err)
	}

	o, e, exit := cli(t, "device", "rekey", "-data", data)
	if exit != 0 || !strings.Contains(o, "Revoked 1 paired device") || !strings.Contains(o, "device forget") {
		t.Fatalf("rekey: exit %d\n%s%s", exit, o, e)
	}
	newKey, err := devicekey.Load(data)
	if err != nil || newKey.Equal(oldKey) {
		t.Fatalf("signing key not replaced: %v", err)
	}
	if !strings.Contains(o, devicekey.Fingerprint(newKey.Public().(ed25519.PublicKey))) {
		t.Errorf("the new key's fingerprint is not printed:\n%s", o)
	}
	if fp, _ := tlscert.ReadFingerprint(data, ""); fp == oldFP || fp == "" {
		t.Errorf("TLS certificate not replaced: %s", fp)
	}
	if tokens, _ := pairing.List(data); len(tokens) != 0 {
		t.Errorf("%d paired devices left", len(tokens))
	}
	if _, ok := pairing.Open(data, nil).Authorize(token); ok {
		t.Error("the old token still works")
	}
}
