package ca

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"fmt"
	"strings"
)

// MobileConfig is an iOS configuration profile that installs root as a
// trusted certificate. Its identifiers follow from the root, so fetching it
// again replaces the profile instead of adding a second one. The
// description tells the phone's owner what it allows and what it does not.
func MobileConfig(root *x509.Certificate, doorbell string) []byte {
	sum := sha256.Sum256(root.Raw)
	names := strings.Join(root.PermittedDNSDomains, ", ")
	for _, n := range root.PermittedIPRanges {
		names += ", " + n.IP.String()
	}
	desc := "Lets this phone trust the doorbell " + doorbell + " (" + names + ") without a warning, " +
		"so that its app can be installed and send notifications. The certificate can vouch only for those names: " +
		"it cannot be used to read or change your traffic to any other site. Remove the profile to undo it. " +
		"After installing, turn it on under Settings > General > About > Certificate Trust Settings."
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">` + "\n")
	fmt.Fprintf(&b, `<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadCertificateFileName</key><string>doorbell-household-root.cer</string>
<key>PayloadContent</key><data>%s</data>
<key>PayloadDescription</key><string>%s</string>
<key>PayloadDisplayName</key><string>%s</string>
<key>PayloadIdentifier</key><string>org.doorbell.household-root.%x.cert</string>
<key>PayloadType</key><string>com.apple.security.root</string>
<key>PayloadUUID</key><string>%s</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></array>
<key>PayloadDescription</key><string>%s</string>
<key>PayloadDisplayName</key><string>%s</string>
<key>PayloadIdentifier</key><string>org.doorbell.household-root.%x</string>
<key>PayloadRemovalDisallowed</key><false/>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>%s</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>
`, base64.StdEncoding.EncodeToString(root.Raw), esc(desc), esc("Doorbell household root"), sum[:6], uuidOf(sum[:], 1),
		esc(desc), esc("Doorbell "+doorbell), sum[:6], uuidOf(sum[:], 2))
	return b.Bytes()
}

func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

// uuidOf makes a version-4-shaped UUID from a hash and a counter.
func uuidOf(sum []byte, n byte) string {
	h := sha256.Sum256(append(append([]byte(nil), sum...), n))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%X-%X-%X-%X-%X", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
