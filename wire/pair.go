package wire

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultPort is the doorbell's HTTPS port unless configured otherwise.
const DefaultPort = "8443"

// PairRequest is the body of POST /api/pair.
type PairRequest struct {
	Code   string `json:"code"`
	Device string `json:"device"` // what the phone calls itself; optional
	// Recipients are the phone's own age public keys, made on the phone:
	// one of each kind, since the phone cannot know the household's. The
	// doorbell keeps the one of the household's kind and seals every clip
	// to it from then on. Optional: a computer pairs without.
	Recipients []string `json:"recipients,omitempty"`
}

// PairResponse is the answer to a successful POST /api/pair.
type PairResponse struct {
	Token     string `json:"token"`                // the secret the phone keeps and sends as a bearer token
	ID        string `json:"id"`                   // the paired device's id
	Member    string `json:"member"`               // whom the code was made for
	Device    string `json:"device"`               // the device's name as stored
	DeviceKey string `json:"device_key,omitempty"` // the doorbell's signing key, to pin
	Recipient string `json:"recipient,omitempty"`  // which of PairRequest.Recipients the doorbell kept
}

// Device is the body of GET /api/device, which anyone may ask: the keys
// that the device ID in pairing links is made of, less the TLS key, which
// the connection shows.
type Device struct {
	DeviceKey string `json:"device_key"` // the signing key, ed25519:BASE64
}

// DeviceIDLen is the length of a device ID: 26 base32 characters, 130 bits.
const DeviceIDLen = 26

var deviceIDEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// DeviceID names a doorbell by its keys, as Syncthing's device IDs and
// WireGuard's keys do: the SHA-256 of its TLS certificate's public key
// (SubjectPublicKeyInfo, DER) and its Ed25519 signing key, cut to 130 bits.
// A pairing link carries it, so that whoever opens the link can tell the
// doorbell from anything between them before sending the code.
func DeviceID(tlsSPKI []byte, signingKey ed25519.PublicKey) string {
	h := sha256.New()
	h.Write([]byte("doorbell device id v1\x00"))
	spki := sha256.Sum256(tlsSPKI)
	h.Write(spki[:])
	h.Write(signingKey)
	return deviceIDEncoding.EncodeToString(h.Sum(nil))[:DeviceIDLen]
}

// PairLink is the pairing link for code at hostport, for the device named
// deviceID ("" leaves it out, as on a setup card made before the device
// exists): https://HOST:PORT/pair#code=CODE&id=DEVICEID. Code and ID ride in
// the fragment, which browsers never send to a server.
func PairLink(hostport, code, deviceID string) string {
	frag := code
	if deviceID != "" {
		frag = "code=" + url.QueryEscape(code) + "&id=" + url.QueryEscape(deviceID)
	}
	u := url.URL{Scheme: "https", Host: hostport, Path: "/pair", Fragment: frag}
	return u.String()
}

// ParsePairLink is ParseDoorbellURL that also returns the link's device ID
// ("" if it has none). The fragment is "CODE", "code=CODE&id=ID", or a setup
// card's "member=NAME&code=CODE".
func ParsePairLink(raw string) (base, code, deviceID string, err error) {
	base, frag, err := parseURL(raw)
	if err != nil || frag == "" {
		return base, "", "", err
	}
	if !strings.Contains(frag, "code=") {
		return base, frag, "", nil
	}
	q, err := url.ParseQuery(frag)
	if err != nil {
		return "", "", "", fmt.Errorf("the pairing link's part after # is damaged (%w); copy the whole link again", err)
	}
	deviceID = strings.ToLower(q.Get("id"))
	if deviceID != "" && (len(deviceID) != DeviceIDLen || strings.Trim(deviceID, "abcdefghijklmnopqrstuvwxyz234567") != "") {
		return "", "", "", fmt.Errorf("the pairing link's device ID %q is not %d base32 characters; copy the whole link again", deviceID, DeviceIDLen)
	}
	return base, q.Get("code"), deviceID, nil
}

// ParseDoorbellURL turns what a member typed (a pairing link, a URL or a
// bare HOST[:PORT]) into the doorbell's base URL "https://HOST:PORT" and the
// link's code, if it had one.
func ParseDoorbellURL(raw string) (base, code string, err error) {
	base, code, _, err = ParsePairLink(raw)
	return base, code, err
}

// parseURL returns the base URL and the fragment of what a member typed.
func parseURL(raw string) (base, fragment string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", errors.New("the doorbell's address is empty; give it as https://HOST:PORT, or the whole pairing link")
	}
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", "", fmt.Errorf("%q is not the doorbell's address; give it as https://HOST:PORT, or the whole pairing link", raw)
	}
	if u.Scheme != "https" {
		return "", "", fmt.Errorf("%q does not use https; the doorbell talks only HTTPS: give https://HOST:PORT", raw)
	}
	port := u.Port()
	if port == "" {
		port = DefaultPort
	}
	if n, err := strconv.Atoi(port); u.Hostname() == "" || err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("%q is not the doorbell's address: it needs a host name or address and a port from 1 to 65535; give it as https://HOST:PORT, or the whole pairing link", raw)
	}
	return "https://" + net.JoinHostPort(u.Hostname(), port), u.Fragment, nil
}
