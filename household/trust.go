package household

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// TLSRequest is the doorbell's answer to GET /api/tls/request: a
// certificate request for its TLS key (the one this computer pinned).
type TLSRequest struct {
	CSR string `json:"csr"` // PEM
}

// HouseholdCert is the body of PUT /api/tls/household.
type HouseholdCert struct {
	Cert string `json:"cert"` // PEM, signed by Root
	Root string `json:"root"` // PEM
}

// CertificateRequest asks the doorbell for a certificate request for its
// TLS key, for the household root to sign.
func (c *Client) CertificateRequest(ctx context.Context) ([]byte, error) {
	resp, err := c.get(ctx, "/api/tls/request", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, apiError(resp)
	}
	defer resp.Body.Close()
	var r TLSRequest
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&r); err != nil || r.CSR == "" {
		return nil, errors.New("the doorbell's certificate request is garbled; is it running this version of doorbelld?")
	}
	return []byte(r.CSR), nil
}

// InstallCertificate gives the doorbell its certificate signed by the
// household root, and the root, which it serves for phones to install.
func (c *Client) InstallCertificate(ctx context.Context, certPEM, rootPEM []byte) error {
	body, _ := json.Marshal(HouseholdCert{Cert: string(certPEM), Root: string(rootPEM)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.Device.URL+"/api/tls/household", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Device.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, ErrPinMismatch) {
			return err
		}
		return fmt.Errorf("cannot reach the doorbell at %s: %v; check that it is on and that this computer is on its network", c.Device.URL, err)
	}
	if resp.StatusCode != http.StatusNoContent {
		return apiError(resp)
	}
	resp.Body.Close()
	return nil
}
