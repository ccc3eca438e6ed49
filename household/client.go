package household

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"doorbell/crypto/clip"
	"doorbell/tlscert"
	"doorbell/wire"
)

// ErrPinMismatch means the doorbell is not the one this computer paired with.
var ErrPinMismatch = errors.New("the doorbell's identity changed")

func spki(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// pinnedTLS accepts only a certificate whose key is pin ("" accepts any,
// for pairing, and reports what it saw through seen).
func pinnedTLS(pin string, seen *x509.Certificate) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The certificate is self-signed: trust comes from the pin, which
		// VerifyConnection checks on every connection.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("the doorbell sent no certificate")
			}
			leaf := cs.PeerCertificates[0]
			if seen != nil {
				*seen = *leaf
			}
			if pin != "" && spki(leaf) != pin {
				return fmt.Errorf("%w: its TLS key is not the one pinned when this computer paired with it (now %s): someone may be impersonating it; if the doorbell was reset on purpose, pair again (doorbell device remove, then device add)", ErrPinMismatch, tlscert.Fingerprint(leaf.Raw))
			}
			return nil
		},
	}
}

// Client talks to one paired doorbell over HTTPS, refusing it if its TLS
// key or its signing key is not the one pinned.
type Client struct {
	Device *Device
	http   *http.Client
}

// NewClient makes a client for d.
func NewClient(d *Device) *Client {
	tr := &http.Transport{
		TLSClientConfig:     pinnedTLS(d.TLSKey, nil),
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	return &Client{Device: d, http: &http.Client{Transport: tr}}
}

// Close drops idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

func (c *Client) get(ctx context.Context, path string, hdr map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Device.URL+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.Device.Token)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrPinMismatch) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot reach the doorbell at %s: %w; check that it is on and that this computer is on its network", c.Device.URL, err)
	}
	return resp, nil
}

// apiError reads a refusal's {"error": …}.
func apiError(resp *http.Response) error {
	defer resp.Body.Close()
	var e wire.Error
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if json.Unmarshal(body, &e) == nil && e.Error != "" {
		return fmt.Errorf("the doorbell refused (%s): %s", resp.Status, e.Error)
	}
	return fmt.Errorf("the doorbell answered %s", resp.Status)
}

// List returns the doorbell's clips, checking that its signing key is the
// one pinned.
func (c *Client) List(ctx context.Context) ([]wire.ClipEntry, error) {
	resp, err := c.get(ctx, "/api/clips", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp)
	}
	defer resp.Body.Close()
	var l wire.ClipList
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&l); err != nil {
		return nil, fmt.Errorf("the doorbell's clip list is garbled: %w", err)
	}
	if l.DeviceKey != c.Device.SigningKey {
		return nil, fmt.Errorf("%w: its signing key is %s, but this computer pinned %s when it paired: someone may be impersonating it; if the doorbell was reset on purpose, pair again (doorbell device remove, then device add)", ErrPinMismatch, l.DeviceKey, c.Device.SigningKey)
	}
	for _, e := range l.Clips {
		if !clip.ValidID(e.ID) {
			return nil, fmt.Errorf("the doorbell's clip list holds a bad id %q", e.ID)
		}
	}
	return l.Clips, nil
}

// Fetch downloads a file (a clip id plus clip.ClipSuffix or
// clip.RecordSuffix) into w, starting at byte offset (a resumed download).
// It returns the bytes written.
func (c *Client) Fetch(ctx context.Context, name string, offset int64, w io.Writer) (int64, error) {
	hdr := map[string]string{}
	if offset > 0 {
		hdr["Range"] = "bytes=" + strconv.FormatInt(offset, 10) + "-"
	}
	resp, err := c.get(ctx, "/api/clips/"+name, hdr)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	switch {
	case offset > 0 && resp.StatusCode == http.StatusPartialContent:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), "bytes "+strconv.FormatInt(offset, 10)+"-") {
			return 0, fmt.Errorf("the doorbell resumed %s at the wrong place (%s)", name, resp.Header.Get("Content-Range"))
		}
	case offset > 0 && resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		return 0, errRestart
	case resp.StatusCode == http.StatusOK && offset > 0:
		return 0, errRestart
	case resp.StatusCode != http.StatusOK:
		return 0, apiError(resp)
	}
	return io.Copy(w, resp.Body)
}

var errRestart = errors.New("the download must start over")

// Pair pairs this computer with the doorbell at rawURL using a one-time
// code (from doorbell member pair), pinning its TLS key and signing key. A
// doorbell already paired must present the same keys as before.
func Pair(ctx context.Context, ds *Devices, rawURL, code, deviceName string) (*Device, error) {
	base, linkCode, err := wire.ParseDoorbellURL(rawURL)
	if err != nil {
		return nil, err
	}
	if code == "" {
		code = linkCode
	}
	if code == "" {
		return nil, errors.New("no pairing code: give the code from doorbell member pair NAME, or the whole pairing link")
	}
	var old *Device
	for i := range ds.Devices {
		if ds.Devices[i].URL == base {
			old = &ds.Devices[i]
		}
	}
	var leaf x509.Certificate
	pin := ""
	if old != nil {
		pin = old.TLSKey // a doorbell paired before must still be itself
	}
	tr := &http.Transport{TLSClientConfig: pinnedTLS(pin, &leaf)}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	if deviceName == "" {
		host, _ := os.Hostname()
		deviceName = strings.TrimSpace(host + " (doorbell CLI)")
	}
	body, _ := json.Marshal(wire.PairRequest{Code: code, Device: deviceName})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/pair", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, ErrPinMismatch) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot reach the doorbell at %s: %w; check the address and that this computer is on its network", base, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp)
	}
	defer resp.Body.Close()
	var pr wire.PairResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&pr); err != nil || pr.Token == "" {
		return nil, fmt.Errorf("the doorbell's answer to pairing is garbled (%w)", err)
	}
	if _, err := ParseSigningKey(pr.DeviceKey); err != nil {
		return nil, fmt.Errorf("the doorbell did not send a usable signing key: %w; update the doorbell", err)
	}
	if old != nil && old.SigningKey != pr.DeviceKey {
		return nil, fmt.Errorf("%w: its signing key is %s, but this computer pinned %s: someone may be impersonating it; if the doorbell was reset on purpose, run doorbell device remove %s first", ErrPinMismatch, pr.DeviceKey, old.SigningKey, base)
	}
	d := Device{
		URL: base, Member: pr.Member, TokenID: pr.ID, Token: pr.Token,
		TLSKey: spki(&leaf), TLSCert: tlscert.Fingerprint(leaf.Raw),
		SigningKey: pr.DeviceKey, Paired: time.Now().UTC().Truncate(time.Second),
	}
	if old != nil {
		*old = d
	} else {
		ds.Devices = append(ds.Devices, d)
	}
	if err := ds.Save(); err != nil {
		return nil, fmt.Errorf("paired, but cannot save the pairing: %w", err)
	}
	return &d, nil
}
