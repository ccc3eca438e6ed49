package daemon

import (
	"crypto/tls"
)

// tlsConfig loads the owner's certificate, or the device's self-signed one.
func (d *Daemon) tlsConfig() (*tls.Config, error) {
	cert, err := temporarySelfSigned()
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
