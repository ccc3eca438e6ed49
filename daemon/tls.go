package daemon

import (
	"crypto/x509"
	"fmt"

	"doorbell/tlscert"
)

// loadTLS loads the owner's certificate (http.cert_file, http.key_file), or
// the household one if the owner installed it (trust.go), or the device's
// self-signed one, made in the data directory on first start. The
// fingerprint is logged so that an owner can check what a browser shows
// against doorbell device id. It also returns the certificate's public key
// (SubjectPublicKeyInfo, DER), which the device ID in pairing links names:
// the household and ACME certificates are issued for the same key, so the
// ID holds when they replace the self-signed one.
func (d *Daemon) loadTLS() (*tlscert.Server, []byte, error) {
	srv, err := tlscert.Open(d.dataDir, d.cfg.HTTP.CertFile, d.cfg.HTTP.KeyFile, nil)
	if err != nil {
		return nil, nil, err
	}
	cert, err := srv.TLSConfig().GetCertificate(nil)
	if err != nil {
		return nil, nil, err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, nil, fmt.Errorf("the HTTPS certificate cannot be parsed: %w; check http.cert_file, or remove the device's own to make a new one", err)
	}
	st := srv.Status()
	d.log.Info("https certificate", "sha256", srv.Fingerprint(), "mode", st.Mode)
	if st.Problem != "" {
		d.log.Warn("https certificate", "problem", st.Problem)
	}
	return srv, leaf.RawSubjectPublicKeyInfo, nil
}
