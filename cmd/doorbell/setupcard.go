package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"doorbell/crypto/keys"
	"doorbell/internal/termqr"
	"doorbell/setupcard"
	"doorbell/wire"
)

const setupCardUsage = `Usage:
  doorbell setup-card -o doorbell-setup.toml -owner NAME -i IDENTITY [-wifi SSID] [-wifi-country CC] [-ssh] [-expires DURATION]

Writes the first-time setup card for a new doorbell: copy it onto the SD
card's boot partition before the first boot. It holds the owner's public key
(from the identity file), a fresh one-time pairing code and, with -wifi, the
Wi-Fi network; the passphrase is asked for (or read from standard input).
The pairing link and its QR code are printed: keep them to pair your phone.

Flags:
`

// runSetupCard handles "doorbell setup-card".
func runSetupCard(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("doorbell setup-card", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the card to `FILE` (name it "+setupcard.FileName+" on the boot partition)")
	owner := fs.String("owner", "", "the owner's member `NAME`, e.g. alice")
	identity := fs.String("i", "", "the owner's identity `FILE` (doorbell keygen); only its public key goes on the card")
	ssid := fs.String("wifi", "", "the Wi-Fi network (`SSID`) to join; none: wired network only")
	country := fs.String("wifi-country", "", "the Wi-Fi `COUNTRY` code, e.g. GB (Raspberry Pi OS keeps Wi-Fi off until it is set)")
	ssh := fs.Bool("ssh", false, "turn the SSH server on (it is off otherwise)")
	expires := fs.Duration("expires", 30*24*time.Hour, "the pairing code expires this long after now; 0: never")
	host := fs.String("host", "doorbell.local:"+wire.DefaultPort, "the doorbell's address in the pairing link")
	fs.Usage = func() {
		fmt.Fprint(stderr, setupCardUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "doorbell setup-card: "+format+"\n", a...)
		return 2
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected argument %q; see doorbell setup-card -h", fs.Arg(0))
	case *out == "":
		return fail("say where to write the card: -o %s", setupcard.FileName)
	case *owner == "":
		return fail("name the owner: -owner NAME (the name the household knows them by, e.g. alice)")
	case *identity == "":
		return fail("give the owner's identity file: -i FILE (the one doorbell keygen wrote)")
	case *ssid == "" && *country != "":
		return fail("-wifi-country without -wifi; give the network too: -wifi SSID")
	case *expires < 0:
		return fail("-expires is negative; give a duration such as 720h, or 0 for no limit")
	}
	recipient, err := recipientOf(*identity, stdin, stderr)
	if err != nil {
		return fail("%v", err)
	}
	card := &setupcard.Card{
		Version: setupcard.Version,
		Owner:   setupcard.Owner{Name: *owner, Recipient: recipient},
		Pairing: setupcard.Pairing{Code: setupcard.NewCode()},
		WiFi:    setupcard.WiFi{SSID: *ssid, Country: strings.ToUpper(*country)},
		SSH:     setupcard.SSH{Enabled: *ssh},
	}
	if *expires > 0 {
		card.Pairing.Expires = time.Now().Add(*expires).UTC().Truncate(time.Second)
	}
	if *ssid != "" {
		psk, err := readPassphrase(stdin, stderr, *ssid)
		if err != nil {
			return fail("%v", err)
		}
		card.WiFi.PSK = psk
	}
	if err := card.Check(); err != nil {
		return fail("%v", err)
	}
	// The card holds a pairing code and maybe a Wi-Fi passphrase: 0600, and
	// never over an existing file.
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fail("%s already exists; remove it or choose another name with -o (a card's code works once)", *out)
		}
		return fail("cannot write the card: %v", err)
	}
	if _, err := f.Write(card.Marshal()); err != nil {
		f.Close()
		os.Remove(*out)
		return fail("cannot write %s: %v", *out, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(*out)
		return fail("cannot write %s: %v", *out, err)
	}

	link := wire.PairLink(*host, card.Pairing.Code, "") // made before the doorbell has keys
	fmt.Fprintf(stdout, "Wrote %s for owner %s.\n", *out, *owner)
	fmt.Fprintf(stdout, "Copy it onto the SD card's boot partition (\"bootfs\") as %s, then boot the doorbell.\n\n", setupcard.FileName)
	fmt.Fprint(stdout, "Pairing link (works once")
	if !card.Pairing.Expires.IsZero() {
		fmt.Fprintf(stdout, ", until %s", card.Pairing.Expires.Format("2006-01-02 15:04 MST"))
	}
	fmt.Fprintf(stdout, "):\n  %s\n\nOr scan this with the phone, once it is on the same network as the doorbell:\n", link)
	if err := termqr.Write(stdout, link, false); err != nil {
		fmt.Fprintf(stderr, "doorbell setup-card: cannot draw the QR code: %v\n", err)
	}
	fmt.Fprintln(stdout, "\nKeep the link and the card private: whoever uses the code first pairs as the owner.")
	return 0
}

// recipientOf reads an identity file (asking for its passphrase on the
// terminal if it is protected) and returns its first public key.
func recipientOf(path string, stdin io.Reader, stderr io.Writer) (string, error) {
	var ask func() (string, error)
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask = func() (string, error) {
			fmt.Fprintf(stderr, "Passphrase for %s: ", path)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(stderr)
			return string(b), err
		}
	}
	ids, err := keys.ReadIdentities(path, ask)
	if err != nil {
		return "", err
	}
	pubs := keys.PublicKeys(ids)
	if len(pubs) == 0 {
		return "", fmt.Errorf("%s holds no age X25519 or post-quantum identity; give the file doorbell keygen wrote", path)
	}
	return pubs[0], nil
}

// readPassphrase asks for the Wi-Fi passphrase without echo on a terminal,
// or reads one line from stdin otherwise. Empty: an open network.
func readPassphrase(stdin io.Reader, stderr io.Writer, ssid string) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(stderr, "Wi-Fi passphrase for %q (empty for an open network): ", ssid)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("cannot read the passphrase: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("cannot read the Wi-Fi passphrase from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
