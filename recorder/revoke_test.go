package recorder

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"doorbell/crypto/clip"
	"doorbell/crypto/keys"
	"doorbell/events"
)

// A phone revoked while a clip records gets nothing recorded after the
// revocation, as a removed member does: the clip sealed to its key ends,
// and recording goes on in a new clip sealed to the keys there are now.
func TestPhoneRevokedWhileRecordingSplitsTheClip(t *testing.T) {
	r := newRig(t, defaultTestConfig(), "alice")
	phone, err := keys.Generate(keys.Hybrid)
	if err != nil {
		t.Fatal(err)
	}
	r.ids["phone"] = phone.Identity
	household := r.reg.Load()
	r.reg.Store(household.WithDeviceKeys([]string{phone.Recipient}))
	r.bus.Publish(events.Event{Kind: events.MotionStart, Time: time.Now(), ID: 9, Zones: []string{"porch"}})
	if !waitUntil(5*time.Second, r.rec.Recording) {
		t.Fatal("not recording")
	}
	// Some video in the first clip: wait until an age chunk of it is on disk.
	dir := r.store.Dir()
	if !waitUntil(10*time.Second, func() bool {
		files, _ := filepath.Glob(filepath.Join(dir, ".*"+clip.ClipSuffix+".partial"))
		for _, f := range files {
			if fi, err := os.Stat(f); err == nil && fi.Size() > 64<<10 {
				return true
			}
		}
		return false
	}) {
		t.Fatal("no video written in the first clip after 10 s")
	}
	r.reg.Store(household) // the phone's token, and its key, are gone
	revoked := time.Now()
	first := r.waitSealed()
	if d := time.Since(revoked); d > 2*time.Second {
		t.Errorf("the clip sealed to the revoked phone ended %v after the revocation", d)
	}
	if !waitUntil(5*time.Second, r.rec.Recording) {
		t.Fatal("recording did not go on after the split")
	}
	r.bus.Publish(events.Event{Kind: events.MotionEnd, Time: time.Now(), ID: 9, Zones: []string{"porch"}})
	second := r.waitSealed()
	if _, _, err := r.open(first, "phone"); err != nil {
		t.Errorf("the phone cannot open the clip from before its revocation: %v", err)
	}
	if _, _, err := r.open(second, "phone"); !errors.Is(err, clip.ErrNoIdentity) {
		t.Errorf("the revoked phone opens the clip recorded after: %v", err)
	}
	if _, res, err := r.open(second, "alice"); err != nil || res.Record.Kind != "motion" {
		t.Errorf("alice, second clip: %+v %v", res, err)
	}
}
