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
// doorbell already paired must present the same keys as before. Before the
// code is sent, the doorbell's keys must make the device ID that the link
// carries (or deviceID, if given): a doorbell paired for the first time is
// known only by it, and anything between this computer and the doorbell,
// such as a TLS proxy, has other keys.
func Pair(ctx context.Context, ds *Devices, rawURL, code, deviceID, deviceName string) (*Device, error) {
	base, linkCode, linkID, err := wire.ParsePairLink(rawURL)
	if err != nil {
		return nil, err
	}
	if code == "" {
		code = linkCode
	}
	if deviceID == "" {
		deviceID = linkID
	}
	deviceID = strings.ToLower(strings.TrimSpace(deviceID))
	if code == "" {
		return nil, errors.New("no pairing code: give the code from doorbell member pair NAME, or the whole pairing link")
	}
	var old *Device
	for i := range ds.Devices {
		if ds.Devices[i].URL == base {
			old = &ds.Devices[i]
		}
	}
	if old == nil && deviceID == "" {
		return nil, errors.New("the pairing link carries no device ID, so this computer cannot tell the doorbell from something posing as it; give the whole link that doorbell member pair prints (…/pair#code=…&id=…), or the ID with -id (doorbell device id on the doorbell prints it)")
	}
	var leaf x509.Certificate
	pin := ""
	if old != nil {
		pin = old.TLSKey // a doorbell paired before must still be itself
	}
	signingKey := ""
	if deviceID != "" {
		if signingKey, err = checkDeviceID(ctx, base, pin, deviceID, &leaf); err != nil {
			return nil, err
		}
		pin = spki(&leaf) // the code goes only to the keys just checked
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
	if signingKey != "" && pr.DeviceKey != signingKey {
		return nil, fmt.Errorf("%w: it answered pairing with signing key %s, not the %s it showed before: someone may be impersonating it", ErrPinMismatch, pr.DeviceKey, signingKey)
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

// checkDeviceID asks the doorbell at base for its signing key (GET
// /api/device, over TLS pinned to pin if set) and checks that with the
// connection's TLS key it makes deviceID. It returns the signing key, and
// the certificate seen in leaf.
func checkDeviceID(ctx context.Context, base, pin, deviceID string, leaf *x509.Certificate) (string, error) {
	tr := &http.Transport{TLSClientConfig: pinnedTLS(pin, leaf)}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/device", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, ErrPinMismatch) {
			return "", err
		}
		return "", fmt.Errorf("cannot reach the doorbell at %s: %w; check the address and that this computer is on its network", base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("the doorbell at %s does not say its keys (%s); update the doorbell, then pair again", base, resp.Status)
	}
	var dev wire.Device
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&dev); err != nil {
		return "", fmt.Errorf("the doorbell's answer about its keys is garbled (%w)", err)
	}
	key, err := ParseSigningKey(dev.DeviceKey)
	if err != nil {
		return "", fmt.Errorf("the doorbell did not send a usable signing key: %w; update the doorbell", err)
	}
	if got := wire.DeviceID(leaf.RawSubjectPublicKeyInfo, key); got != deviceID {
		return "", fmt.Errorf("%w: the keys at %s make device ID %s, but the pairing link names %s: something between this computer and the doorbell may be posing as it, so the code was not sent; check the network, or make a new link on the doorbell", ErrPinMismatch, base, got, deviceID)
	}
	return dev.DeviceKey, nil
}
