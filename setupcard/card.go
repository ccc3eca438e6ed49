// Package setupcard is the doorbell's headless first-time setup: the file
// the owner writes with "doorbell setup-card" and drops onto the SD card's
// boot partition, and what the device does with it on first boot.
//
// Two steps, so that the sandboxed daemon never needs write access to the
// boot partition:
//
//  1. Stage (doorbell-setup.service, as root, before the daemon): applies
//     the system settings (Wi-Fi, SSH), moves the owner's part of the card
//     into the data directory, readable only by the daemon, and securely
//     deletes the card from the boot partition.
//  2. Import (the daemon, once it listens): makes the owner the first
//     household member, accepts the card's pairing code once, and securely
//     deletes the staged file. A malformed card leaves the device unpaired,
//     with the reason in the journal and the LED showing the error pattern.
package setupcard

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"doorbell/crypto/keys"
	"doorbell/crypto/members"
)

// Version is the card format this package writes and reads.
const Version = 1

// FileName is the card's name on the boot partition.
const FileName = "doorbell-setup.toml"

// Card is the first-time setup file.
type Card struct {
	Version int     `toml:"version"`
	Owner   Owner   `toml:"owner"`
	Pairing Pairing `toml:"pairing"`
	WiFi    WiFi    `toml:"wifi"`
	SSH     SSH     `toml:"ssh"`
}

// Owner is the household's first member.
type Owner struct {
	// Name is the member's name, as "doorbell member" commands use it.
	Name string `toml:"name"`
	// Recipient is the owner's age public key: clips are sealed to it.
	Recipient string `toml:"recipient"`
}

// Pairing is the owner's one-time pairing code.
type Pairing struct {
	Code string `toml:"code"`
	// Expires: the device refuses the code after this time (RFC 3339).
	// Zero: it never expires, but still works only once.
	Expires time.Time `toml:"expires,omitempty"`
}

// WiFi is the wireless network the device joins; empty SSID: wired only.
type WiFi struct {
	SSID string `toml:"ssid"`
	// PSK is the WPA passphrase (8 to 63 characters); empty for an open network.
	PSK string `toml:"psk"`
	// Country is the ISO 3166 code of the regulatory domain, e.g. "GB".
	Country string `toml:"country"`
}

// SSH says whether the SSH server is turned on. It is off unless asked for.
type SSH struct {
	Enabled bool `toml:"enabled"`
}

// Error is one problem in a card, with its line when known.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// MaxSize is the largest card accepted; a real one is well under 1 KiB.
const MaxSize = 64 << 10

var (
	countryRE = regexp.MustCompile(`^[A-Z]{2}$`)
	codeRE    = regexp.MustCompile(`^[A-Z2-7]{4}(-[A-Z2-7]{4}){4,7}$`)
)

// Parse reads and checks a card; file names it in errors. Every error says
// what to do: mostly, make a new card with "doorbell setup-card".
func Parse(file string, data []byte) (*Card, error) {
	if len(data) > MaxSize {
		return nil, &Error{File: file, Msg: fmt.Sprintf("the file is %d bytes, more than a setup card can be (%d); make a new one with doorbell setup-card", len(data), MaxSize)}
	}
	var c Card
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var strict *toml.StrictMissingError
		if errors.As(err, &strict) && len(strict.Errors) > 0 {
			de := strict.Errors[0]
			line, _ := de.Position()
			return nil, &Error{File: file, Line: line, Msg: fmt.Sprintf("unknown key %q; this is not a doorbell setup card of version %d, make a new one with doorbell setup-card", strings.Join(de.Key(), "."), Version)}
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, _ := de.Position()
			return nil, &Error{File: file, Line: line, Msg: strings.TrimPrefix(de.Error(), "toml: ") + "; the file is damaged, make a new one with doorbell setup-card"}
		}
		return nil, &Error{File: file, Msg: strings.TrimPrefix(err.Error(), "toml: ") + "; make a new card with doorbell setup-card"}
	}
	if err := c.Check(); err != nil {
		return nil, &Error{File: file, Line: lineOf(data, err.key), Msg: err.msg}
	}
	return &c, nil
}

type checkError struct{ key, msg string }

func (e *checkError) Error() string { return e.msg }

// Check says what is wrong with the card, naming the key.
func (c *Card) Check() *checkError {
	bad := func(key, format string, args ...any) *checkError {
		return &checkError{key, fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Version != Version:
		return bad("version", "version is %d, this doorbell reads setup cards of version %d; make a new card with doorbell setup-card", c.Version, Version)
	case c.Owner.Name == "":
		return bad("name", "owner.name is missing; make a new card with doorbell setup-card -owner NAME")
	case c.Owner.Recipient == "":
		return bad("recipient", "owner.recipient is missing; make a new card with doorbell setup-card -i YOUR-IDENTITY-FILE")
	}
	if err := members.CheckName(c.Owner.Name); err != nil {
		return bad("name", "owner.name: %v", err)
	}
	if _, _, err := keys.ParseRecipient(c.Owner.Recipient); err != nil {
		return bad("recipient", "owner.recipient: %v", err)
	}
	switch {
	case c.Pairing.Code == "":
		return bad("code", "pairing.code is missing; make a new card with doorbell setup-card")
	case !codeRE.MatchString(c.Pairing.Code):
		return bad("code", "pairing.code is not a pairing code made by doorbell setup-card; make a new card")
	case c.WiFi.SSID == "" && (c.WiFi.PSK != "" || c.WiFi.Country != ""):
		return bad("ssid", "wifi.ssid is empty but a Wi-Fi passphrase or country is given; set the network name or remove the [wifi] section")
	case len(c.WiFi.SSID) > 32:
		return bad("ssid", "wifi.ssid is %d bytes; a Wi-Fi network name has at most 32", len(c.WiFi.SSID))
	case strings.ContainsAny(c.WiFi.SSID, "\x00\n\r"):
		return bad("ssid", "wifi.ssid contains a line break or NUL; check the network name")
	case c.WiFi.PSK != "" && (len(c.WiFi.PSK) < 8 || len(c.WiFi.PSK) > 63):
		return bad("psk", "wifi.psk is %d characters; a WPA passphrase has 8 to 63", len(c.WiFi.PSK))
	case strings.ContainsAny(c.WiFi.PSK, "\x00\n\r"):
		return bad("psk", "wifi.psk contains a line break or NUL; check the passphrase")
	case c.WiFi.Country != "" && !countryRE.MatchString(c.WiFi.Country):
		return bad("country", "wifi.country %q is not a two-letter country code such as \"GB\" or \"DE\"", c.WiFi.Country)
	}
	return nil
}

// Expired says whether the pairing code may no longer be used at now.
func (c *Card) Expired(now time.Time) bool {
	return !c.Pairing.Expires.IsZero() && now.After(c.Pairing.Expires)
}

// NewCode returns a fresh one-time pairing code: 100 random bits in base32,
// in five groups of four, e.g. "K7QD-M2XA-…", the shortest code the device
// accepts (pairing.MinCodeChars). Easy to read out, and far too many to
// guess at the few tries a minute the device allows each address.
func NewCode() string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	var b [13]byte         // 104 bits: 20 letters of 5 bits
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	var sb strings.Builder
	var acc, bits uint
	n := 0
	for _, x := range b {
		acc = acc<<8 | uint(x)
		bits += 8
		for bits >= 5 {
			if n > 0 && n%4 == 0 {
				sb.WriteByte('-')
			}
			sb.WriteByte(alphabet[(acc>>(bits-5))&31])
			bits -= 5
			n++
		}
	}
	return sb.String()
}

// Marshal writes the card as the commented TOML file the owner copies to the
// boot partition.
func (c *Card) Marshal() []byte {
	var b bytes.Buffer
	q := tomlString
	fmt.Fprintf(&b, `# Doorbell first-time setup card. Copy this file, named %s, onto the
# SD card's boot partition (the one named "bootfs") before the first boot.
# On first boot the doorbell reads it, makes %s its owner, and deletes it.
# It holds your Wi-Fi passphrase and a one-time pairing code: do not leave
# copies of it lying around.
version = %d

[owner]
name = %s
# Clips are sealed to this age public key: only its identity opens them.
recipient = %s

[pairing]
# One-time code: the first phone that pairs with it becomes the owner's.
code = %s
`, FileName, c.Owner.Name, c.Version, q(c.Owner.Name), q(c.Owner.Recipient), q(c.Pairing.Code))
	if !c.Pairing.Expires.IsZero() {
		fmt.Fprintf(&b, "expires = %s\n", c.Pairing.Expires.UTC().Format(time.RFC3339))
	}
	fmt.Fprintf(&b, `
[wifi]
# The network to join; an empty ssid: wired network only.
ssid = %s
psk = %s
country = %s

[ssh]
# The SSH server stays off unless this is true.
enabled = %t
`, q(c.WiFi.SSID), q(c.WiFi.PSK), q(c.WiFi.Country), c.SSH.Enabled)
	return b.Bytes()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04X", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// lineOf finds the line where key is assigned, or 0.
func lineOf(data []byte, key string) int {
	re := regexp.MustCompile(`^\s*` + regexp.QuoteMeta(key) + `\s*=`)
	for i, line := range strings.Split(string(data), "\n") {
		if re.MatchString(line) {
			return i + 1
		}
	}
	return 0
}
