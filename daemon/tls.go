package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"doorbell/tlscert"
)

// tlsConfig loads the owner's certificate (http.cert_file, http.key_file),
// or the device's self-signed one, made in the data directory on first
// start. The fingerprint is logged so that an owner can check what a
// browser shows against doorbell device id. It also returns the
// certificate's public key (SubjectPublicKeyInfo, DER), which the device ID
// in pairing links names.
func (d *Daemon) tlsConfig() (*tls.Config, []byte, error) {
	cfg, fingerprint, err := tlscert.Load(d.dataDir, d.cfg.HTTP.CertFile, d.cfg.HTTP.KeyFile, nil)
	if err != nil {
		return nil, nil, err
	}
	cert, err := cfg.GetCertificate(nil)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("the HTTPS certificate cannot be parsed: %w; check http.cert_file, or remove the device's own to make a new one", err)
	}
	d.log.Info("https certificate", "sha256", fingerprint, "own", d.cfg.HTTP.CertFile != "")
	return cfg, leaf.RawSubjectPublicKeyInfo, nil
}
