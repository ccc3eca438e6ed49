package main

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"doorbell/devicekey"
	"doorbell/pairing/linkaddr"
	"doorbell/tlscert"
)

const deviceUsage = `Usage:
  doorbell device id [-data DIR] [-cert FILE] [-json]

id   prints the SHA-256 fingerprint of the doorbell's TLS certificate (what a
     browser shows for it) and the doorbell's signing key, which members pin.
`

// runDevice handles "doorbell device ...".
func runDevice(args []string, stdout, stderr io.Writer) int {
	return dispatch("device", args, stdout, stderr, deviceUsage+deviceLocalUsage+deviceRekeyUsage,
		deviceUsage+"\n"+deviceLocalUsage+"\n"+deviceRekeyUsage, map[string]subcommand{
			"id": deviceID, "add": deviceAdd, "remove": deviceRemove, // add and remove: device_add.go
			"forget": deviceRemove, "rekey": deviceRekey, // device_rekey.go
		})
}

func deviceID(args []string, stdout, stderr io.Writer) int {
	c := newCommand("device id", "device id [-data DIR] [-cert FILE] [-json]", stderr)
	data := dataFlag(c.fs)
	cert := c.fs.String("cert", "", "the owner's certificate `FILE`, if config http.cert_file is set (default: the device's self-signed one)")
	asJSON := c.fs.Bool("json", false, "print JSON")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	if err := checkDataDir(*data); err != nil {
		return c.failf("%v", err)
	}
	fp, certErr := tlscert.ReadFingerprint(*data, *cert)
	key, keyErr := devicekey.Load(*data)
	if certErr != nil && keyErr != nil {
		return c.failf("%v", keyErr) // the same advice for both: start the daemon once
	}
	var pub, keyFP string
	if keyErr == nil {
		pk := key.Public().(ed25519.PublicKey)
		pub, keyFP = devicekey.PublicString(pk), devicekey.Fingerprint(pk)
	}
	id, _ := linkaddr.DeviceID(*data) // what the running daemon serves; "" before its first start
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(struct {
			DeviceID  string `json:"device_id,omitempty"`
			TLS       string `json:"tls_sha256,omitempty"`
			Key       string `json:"signing_key,omitempty"`
			KeySHA256 string `json:"signing_key_fingerprint,omitempty"`
		}{id, fp, pub, keyFP})
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		if id != "" {
			fmt.Fprintf(tw, "Device ID (in pairing links)\t%s\n", id)
		}
		if certErr == nil {
			fmt.Fprintf(tw, "TLS certificate SHA-256\t%s\n", fp)
		}
		if keyErr == nil {
			fmt.Fprintf(tw, "Signing key\t%s\n", pub)
			fmt.Fprintf(tw, "Signing key fingerprint\t%s\n", keyFP)
		}
		tw.Flush()
	}
	switch {
	case certErr != nil:
		return c.failf("%v", certErr)
	case keyErr != nil:
		return c.failf("%v", keyErr)
	}
	return 0
}
