package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"doorbell/devicekey"
	"doorbell/pairing"
	"doorbell/tlscert"
)

// After a copy of the SD card: doorbell device rekey on the doorbell, then
// doorbell device forget and device add again on every member's computer.
const deviceRekeyUsage = `  doorbell device rekey -data DIR
  doorbell device forget URL

rekey    on the doorbell, after its SD card was copied or stolen: destroys
         its signing key and its self-signed TLS key, makes new ones, and
         revokes every paired device, since whoever holds the old keys can
         pose as the doorbell and sign clips. Restart the daemon, then pair
         every phone and computer again.
forget   on a member's computer: forgets a doorbell's pinned keys (as
         remove), so that device add can pin its new ones.
`

func deviceRekey(args []string, stdout, stderr io.Writer) int {
	c := newCommand("device rekey", "device rekey [-data DIR]", stderr)
	data := dataFlag(c.fs)
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	if err := checkDataDir(*data); err != nil {
		return c.failf("%v", err)
	}
	old, err := devicekey.Load(*data)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// A damaged key is replaced too: that is what rekey is for.
		fmt.Fprintf(stderr, "doorbell: note: the old signing key could not be read (%v); replacing it\n", err)
	}
	for _, f := range []string{devicekey.Path(*data), filepath.Join(*data, tlscert.KeyFileName), filepath.Join(*data, tlscert.CertFileName)} {
		if err := destroy(f); err != nil {
			return c.failf("cannot remove %s: %v; the old key is still there, so run rekey again as the doorbell's user (sudo -u doorbell)", f, err)
		}
	}
	key, err := devicekey.LoadOrCreate(*data)
	if err != nil {
		return c.failf("%v", err)
	}
	if _, _, err := tlscert.Load(*data, "", "", nil); err != nil {
		return c.failf("the new signing key is made, but not the TLS certificate: %v; start the daemon, which makes it", err)
	}
	fp, _ := tlscert.ReadFingerprint(*data, "")
	tokens, err := pairing.List(*data)
	if err != nil {
		return c.failf("the keys are new, but the paired devices could not be read to revoke them: %v; revoke them with doorbell member revoke", err)
	}
	revoked := 0
	for _, t := range tokens {
		if _, _, err := pairing.Revoke(*data, t.ID); err == nil {
			revoked++
		}
	}
	pub := key.Public().(ed25519.PublicKey)
	if old != nil {
		fmt.Fprintf(stdout, "Destroyed the signing key %s and the TLS key.\n", devicekey.Fingerprint(old.Public().(ed25519.PublicKey)))
	}
	fmt.Fprintf(stdout, "New signing key:         %s (%s)\n", devicekey.PublicString(pub), devicekey.Fingerprint(pub))
	fmt.Fprintf(stdout, "New TLS certificate:     SHA-256 %s\n", fp)
	fmt.Fprintf(stdout, "Revoked %d paired device(s).\n\n", revoked)
	fmt.Fprintln(stdout, "Next: restart the daemon (systemctl restart doorbell), then for each member:")
	fmt.Fprintln(stdout, "  on their computer:  doorbell device forget URL, then doorbell device add with a new link")
	fmt.Fprintln(stdout, "  for their phone:    doorbell member pair NAME, and open the link on the phone")
	fmt.Fprintln(stdout, "Clips signed by the old key still open with -no-verify; ones made after the copy may be forged.")
	if len(tokens) != revoked {
		return c.failf("%d of %d paired devices could not be revoked; revoke them with doorbell member revoke", len(tokens)-revoked, len(tokens))
	}
	return 0
}

// destroy overwrites a key file before removing it, so that a later copy
// of the card is less likely to find it in the file's old blocks.
func destroy(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().IsRegular() {
		if f, err := os.OpenFile(path, os.O_WRONLY, 0); err == nil {
			_, _ = f.Write(make([]byte, fi.Size()))
			_ = f.Sync()
			f.Close()
		}
	}
	return os.Remove(path)
}
