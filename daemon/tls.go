package daemon

import (
	"crypto/tls"

	"doorbell/tlscert"
)

// tlsConfig loads the owner's certificate (http.cert_file, http.key_file),
// or the device's self-signed one, made in the data directory on first
// start. The fingerprint is logged so that an owner can check what a
// browser shows against doorbell device id.
func (d *Daemon) tlsConfig() (*tls.Config, error) {
	cfg, fingerprint, err := tlscert.Load(d.dataDir, d.cfg.HTTP.CertFile, d.cfg.HTTP.KeyFile, nil)
	if err != nil {
		return nil, err
	}
	d.log.Info("https certificate", "sha256", fingerprint, "own", d.cfg.HTTP.CertFile != "")
	return cfg, nil
}
