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
	cfg, fingerprint, err := tlscert.Load(d.DataDir, d.Cfg.HTTP.CertFile, d.Cfg.HTTP.KeyFile, nil)
	if err != nil {
		return nil, err
	}
	d.Log.Info("https certificate", "sha256", fingerprint, "own", d.Cfg.HTTP.CertFile != "")
	return cfg, nil
}
