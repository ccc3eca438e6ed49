package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"doorbell/household"
)

// Pairing this computer with a doorbell: doorbell device add/remove.
const deviceLocalUsage = `  doorbell device add [-name NAME] [-id DEVICE-ID] URL [CODE]
  doorbell device remove URL

add      pairs this computer with the doorbell at URL (https://HOST:PORT, or
         the whole pairing link) using a code from doorbell member pair.
         Before it sends the code it checks that the doorbell's keys make
         the device ID in the link (or -id): anything in between has other
         keys. It pins the doorbell's TLS key and signing key, and refuses
         the doorbell later if either changes.
remove   forgets the pairing (on this computer only).

Pairings are kept in $DOORBELL_CONFIG_DIR, or doorbell/ in your config
directory.
`

func devicesDir(c *command) (*household.Devices, int, bool) {
	dir, err := household.ConfigDir()
	if err != nil {
		return nil, c.failf("%v", err), false
	}
	ds, err := household.LoadDevices(dir)
	if err != nil {
		return nil, c.failf("%v", err), false
	}
	return ds, 0, true
}

func deviceAdd(args []string, stdout, stderr io.Writer) int {
	c := newCommand("device add", "device add [-name NAME] [-id DEVICE-ID] URL [CODE]", stderr)
	name := c.fs.String("name", "", "what the doorbell calls this computer in doorbell member tokens (default: its host name)")
	id := c.fs.String("id", "", "the doorbell's device ID (doorbell device id prints it), if the link does not carry it")
	args, code, ok := c.parse(args, 1, 2)
	if !ok {
		return code
	}
	ds, code, ok := devicesDir(c)
	if !ok {
		return code
	}
	pairCode := ""
	if len(args) == 2 {
		pairCode = args[1]
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := household.Pair(ctx, ds, args[0], pairCode, *id, *name)
	if err != nil {
		return c.failf("%v", err)
	}
	pub, _ := d.PublicKey()
	fmt.Fprintf(stdout, "Paired with the doorbell at %s as %s (device id %s).\n", terminalSafe(d.URL), terminalSafe(d.Member), terminalSafe(d.TokenID))
	fmt.Fprintf(stdout, "Pinned its TLS certificate %s\n", d.TLSCert)
	fmt.Fprintf(stdout, "and its signing key %s (%s).\n", d.SigningKey, household.DeviceFingerprint(pub))
	fmt.Fprintln(stdout, "Check both against doorbell device id on the doorbell: clips that do not carry this signature will be refused.")
	return 0
}

func deviceRemove(args []string, stdout, stderr io.Writer) int {
	c := newCommand("device remove", "device remove URL", stderr)
	args, code, ok := c.parse(args, 1, 1)
	if !ok {
		return code
	}
	ds, code, ok := devicesDir(c)
	if !ok {
		return code
	}
	if err := ds.Remove(args[0]); err != nil {
		return c.failf("%v", err)
	}
	if err := ds.Save(); err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintf(stdout, "Forgot the doorbell at %s and its pinned keys; doorbell device add pins its keys anew. (Its token still works there until revoked: doorbell member revoke on the doorbell.)\n", terminalSafe(args[0]))
	return 0
}
