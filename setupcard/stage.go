//go:build unix

package setupcard

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// System applies a card's system settings. HostSystem is the real one.
type System interface {
	EnableSSH(ctx context.Context) error
	JoinWiFi(ctx context.Context, w WiFi) error
}

// MemberLister lists a household's members; DataDir is the real one.
type MemberLister interface {
	Members() ([]Member, error)
}

// Stage is step 1, run as root before the daemon starts: if a card is at
// bootPath, it applies the card's Wi-Fi and SSH settings through sys, writes
// the owner's part of it to stagedPath (mode 0600, owned by uid:gid, the
// daemon's user) and securely deletes the card. A card that does not parse
// is staged as it is, so that the daemon reports why (the LED and the
// journal), and nothing of it is applied. It reports whether there was a card.
//
// A doorbell that already has members (household) is installed: a card
// there changes nothing, neither SSH nor Wi-Fi, since anyone who can reach
// the SD card could otherwise reconfigure it. Stage logs that it was
// ignored and erases it. If the member list cannot be read, nothing is
// applied and the card stays for the next boot.
func Stage(ctx context.Context, bootPath, stagedPath string, uid, gid int, household MemberLister, sys System, log *slog.Logger) (bool, error) {
	data, err := readCard(bootPath)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	ms, merr := household.Members()
	if merr != nil {
		return true, fmt.Errorf("setup card %s not applied: cannot tell whether this doorbell already has members: %w; fix or remove the member list, then reboot (the card is kept)", bootPath, merr)
	}
	if len(ms) > 0 {
		log.Warn("setup card ignored: this doorbell already has members, so a card changes nothing (no Wi-Fi, no SSH, no owner); erasing it. To set the doorbell up again, remove every member first",
			"file", bootPath, "members", len(ms))
		if err := SecureRemove(bootPath); err != nil {
			return true, fmt.Errorf("setup card ignored, but erasing it failed: %w", err)
		}
		return true, nil
	}
	if err != nil {
		// Unreadable or not a plain file: hand the reason on, and erase it.
		log.Error("setup card rejected", "file", bootPath, "err", err)
		data = []byte("# unreadable setup card: " + strings.ReplaceAll(err.Error(), "\n", " ") + "\n")
		if werr := writePrivate(stagedPath, data, uid, gid); werr != nil {
			return true, werr
		}
		return true, SecureRemove(bootPath)
	}
	staged := data
	card, perr := Parse(bootPath, data)
	if perr != nil {
		log.Error("setup card rejected; nothing of it is applied, and the daemon reports it", "err", perr)
	} else {
		if card.WiFi.SSID != "" {
			if err := sys.JoinWiFi(ctx, card.WiFi); err != nil {
				log.Error("setup card: cannot set up Wi-Fi", "ssid", card.WiFi.SSID, "err", err)
			} else {
				log.Info("setup card: Wi-Fi set up", "ssid", card.WiFi.SSID, "country", card.WiFi.Country)
			}
		}
		if card.SSH.Enabled {
			if err := sys.EnableSSH(ctx); err != nil {
				log.Error("setup card: cannot turn SSH on", "err", err)
			} else {
				log.Info("setup card: SSH turned on, with new host keys")
			}
		}
		// The daemon gets only what it needs: no Wi-Fi passphrase.
		staged = (&Card{Version: card.Version, Owner: card.Owner, Pairing: card.Pairing}).Marshal()
	}
	if err := writePrivate(stagedPath, staged, uid, gid); err != nil {
		return true, fmt.Errorf("cannot hand the setup card to the daemon at %s: %w", stagedPath, err)
	}
	if err := SecureRemove(bootPath); err != nil {
		return true, err
	}
	log.Info("setup card moved to the daemon and erased from the boot partition", "from", bootPath, "to", stagedPath)
	return true, nil
}

// HostSystem changes the running system (under Root, "/" normally): SSH
// through ssh-keygen and systemctl, Wi-Fi as a NetworkManager connection
// (Raspberry Pi OS bookworm uses NetworkManager) and, where raspi-config
// exists, the Wi-Fi country.
type HostSystem struct {
	Root string
	// Run runs a command; nil means exec. Tests record the commands.
	Run func(ctx context.Context, name string, args ...string) error
}

func (h HostSystem) run(ctx context.Context, name string, args ...string) error {
	if h.Run != nil {
		return h.Run(ctx, name, args...)
	}
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (h HostSystem) path(p string) string { return filepath.Join(h.Root, p) }

// EnableSSH makes the host keys the image recipe removed, then enables and
// starts the SSH server without waiting for it (this runs during boot).
func (h HostSystem) EnableSSH(ctx context.Context) error {
	if err := h.run(ctx, "ssh-keygen", "-A"); err != nil {
		return err
	}
	if err := h.run(ctx, "systemctl", "enable", "ssh.service"); err != nil {
		return err
	}
	return h.run(ctx, "systemctl", "start", "--no-block", "ssh.service")
}

// NMConnection is where JoinWiFi writes the Wi-Fi connection.
const NMConnection = "/etc/NetworkManager/system-connections/doorbell-wifi.nmconnection"

// JoinWiFi writes a NetworkManager connection for w (mode 0600: it holds
// the passphrase), sets the Wi-Fi country, and asks NetworkManager to load it.
func (h HostSystem) JoinWiFi(ctx context.Context, w WiFi) error {
	if _, err := os.Stat(h.path("/etc/NetworkManager")); err != nil {
		return fmt.Errorf("NetworkManager is not installed (no /etc/NetworkManager); connect the doorbell by cable, or install network-manager")
	}
	if w.Country != "" {
		if _, err := exec.LookPath("raspi-config"); err == nil && h.Root == "" {
			if err := h.run(ctx, "raspi-config", "nonint", "do_wifi_country", w.Country); err != nil {
				return err
			}
		}
	}
	if err := writePrivate(h.path(NMConnection), nmKeyfile(w), 0, 0); err != nil {
		return err
	}
	if _, err := exec.LookPath("nmcli"); err == nil || h.Run != nil {
		if err := h.run(ctx, "nmcli", "connection", "load", NMConnection); err != nil {
			return err
		}
		return h.run(ctx, "nmcli", "--wait", "0", "connection", "up", "doorbell-wifi")
	}
	return nil
}

// nmKeyfile is a NetworkManager keyfile for w. The SSID is written as a
// list of bytes, which needs no escaping whatever it holds.
func nmKeyfile(w WiFi) []byte {
	var uuid [16]byte
	_, _ = rand.Read(uuid[:])
	uuid[6] = uuid[6]&0x0f | 0x40
	uuid[8] = uuid[8]&0x3f | 0x80
	var ssid strings.Builder
	for _, b := range []byte(w.SSID) {
		fmt.Fprintf(&ssid, "%d;", b)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[connection]\nid=doorbell-wifi\nuuid=%x-%x-%x-%x-%x\ntype=wifi\nautoconnect=true\n\n", uuid[0:4], uuid[4:6], uuid[6:8], uuid[8:10], uuid[10:])
	fmt.Fprintf(&b, "[wifi]\nmode=infrastructure\nssid=%s\n\n", ssid.String())
	if w.PSK != "" {
		fmt.Fprintf(&b, "[wifi-security]\nkey-mgmt=wpa-psk\npsk=%s\n\n", keyfileEscape(w.PSK))
	}
	b.WriteString("[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\naddr-gen-mode=default\n")
	return []byte(b.String())
}

// keyfileEscape escapes a string value for a GLib key file.
func keyfileEscape(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == ' ' && i == 0:
			b.WriteString(`\s`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
