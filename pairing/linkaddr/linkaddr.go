// Package linkaddr decides what pairing links name: the HOST:PORT (the
// address the daemon records when it listens, or this machine's LAN
// address) and the device ID the daemon records.
package linkaddr

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"doorbell/internal/atomicfile"
	"doorbell/wire"
)

// ListenFile, in the data directory, records the address the daemon's HTTPS
// server listens on, so that the CLI can make links to it.
const ListenFile = "listen-address"

// Save records the daemon's HTTPS address in the data directory.
func Save(dataDir, addr string) error {
	return atomicfile.WriteFile(filepath.Join(dataDir, ListenFile), []byte(addr+"\n"), 0o600)
}

// ForLinks decides the HOST:PORT of pairing links: explicit if it is set
// (a port alone, ":8443", takes this machine's address), otherwise the
// address the daemon last listened on, otherwise port 8443. A missing or
// wildcard host (0.0.0.0, ::) becomes this machine's LAN address.
func ForLinks(dataDir, explicit string) (string, error) {
	addr := explicit
	if addr == "" {
		data, err := os.ReadFile(filepath.Join(dataDir, ListenFile))
		switch {
		case err == nil:
			addr = strings.TrimSpace(string(data))
		case errors.Is(err, fs.ErrNotExist):
			addr = ":" + wire.DefaultPort
		default:
			return "", fmt.Errorf("cannot read where the daemon listens: %w; give the address phones use with -addr HOST:PORT", err)
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if explicit == "" {
			return "", fmt.Errorf("%s in %s is not HOST:PORT; remove it, or give the address phones use with -addr HOST:PORT", addr, dataDir)
		}
		// A host alone: the default port.
		host, port = addr, wire.DefaultPort
		if strings.Count(host, ":") > 1 && !strings.HasPrefix(host, "[") { // bare IPv6
			return net.JoinHostPort(host, port), nil
		}
		host = strings.Trim(host, "[]")
	}
	if port == "" {
		port = wire.DefaultPort
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = LANAddress()
	}
	return net.JoinHostPort(host, port), nil
}

// LANAddress returns the address by which phones on the home network most
// likely reach this machine: a private IPv4 address of an interface that is
// up, else any global address, else "localhost". It looks only at the
// interfaces; it sends nothing.
func LANAddress() string {
	ifaces, err := net.Interfaces()
	if err != nil {
		return "localhost"
	}
	var private4, global4, global6 string
	for _, ifc := range ifaces {
		if ifc.Flags&net.FlagUp == 0 || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, _ := ifc.Addrs()
		for _, a := range addrs {
			n, ok := a.(*net.IPNet)
			if !ok || !n.IP.IsGlobalUnicast() {
				continue
			}
			switch {
			case n.IP.To4() != nil && n.IP.IsPrivate() && private4 == "":
				private4 = n.IP.String()
			case n.IP.To4() != nil && global4 == "":
				global4 = n.IP.String()
			case n.IP.To4() == nil && global6 == "":
				global6 = n.IP.String()
			}
		}
	}
	for _, a := range []string{private4, global4, global6} {
		if a != "" {
			return a
		}
	}
	return "localhost"
}

// DeviceIDFile, in the data directory, records the daemon's device ID
// (wire.DeviceID of the certificate it serves and its signing key), so that
// the CLI's links carry it.
const DeviceIDFile = "device-id"

// SaveDeviceID records the daemon's device ID in the data directory.
func SaveDeviceID(dataDir, id string) error {
	return atomicfile.WriteFile(filepath.Join(dataDir, DeviceIDFile), []byte(id+"\n"), 0o600)
}

// DeviceID returns the device ID the daemon recorded, or "" if it has not
// started yet.
func DeviceID(dataDir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dataDir, DeviceIDFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the doorbell's device ID: %w; run as the user that owns the data directory", err)
	}
	id := strings.TrimSpace(string(data))
	if len(id) != wire.DeviceIDLen {
		return "", fmt.Errorf("%s is damaged; remove it and restart doorbelld, which writes it again", filepath.Join(dataDir, DeviceIDFile))
	}
	return id, nil
}
