package daemon

import (
	"crypto/tls"

	"doorbell/tlscert"
)

// tlsConfig loads the owner's certificate (http.cert_file, http.key_file),
// or the household one if the owner installed it (trust.go), or the
// device's self-signed one, made in the data directory on first start. The
// fingerprint is logged so that an owner can check what a browser shows
// against doorbell device id.
func (d *Daemon) tlsConfig() (*tls.Config, error) {
	srv, err := tlscert.Open(d.DataDir, d.Cfg.HTTP.CertFile, d.Cfg.HTTP.KeyFile, nil)
	if err != nil {
		return nil, err
	}
	d.trust = srv
	st := srv.Status()
	d.Log.Info("https certificate", "sha256", srv.Fingerprint(), "mode", st.Mode)
	if st.Problem != "" {
		d.Log.Warn("https certificate", "problem", st.Problem)
	}
	d.registerTrust()
	return srv.TLSConfig(), nil
}
