package daemon

import (
	"fmt"
	"time"

	"doorbell/pairing"
	"doorbell/pairing/linkaddr"
	"doorbell/tlscert"
	"doorbell/wire"
)

// printTrustSteps tells the demo user how a browser can trust the doorbell
// at hostport without a warning: through a household root (made here with the
// CLI), or through the owner's own domain (ACME). Service workers, the
// installable app and notifications need one of the two.
func (p *demoPart) printTrustSteps(hostport string) {
	if p.trust == nil {
		return
	}
	w := p.Out
	st := p.trust.Status()
	cli := householdCLI()
	base := "https://" + hostport
	switch st.Mode {
	case tlscert.ModeHousehold:
		fmt.Fprintf(w, "Trust:       the certificate is from your household root (SHA-256 %s);\n"+
			"             a browser with that root installed opens %s/ without a warning.\n"+
			"             Renew or re-sign with: %s ca sign -i YOUR-IDENTITY\n", st.RootSHA256, base, cli)
		if st.Problem != "" {
			fmt.Fprintf(w, "             Note: %s\n", st.Problem)
		}
		return
	case tlscert.ModeACME, tlscert.ModeOwn:
		fmt.Fprintf(w, "Trust:       the certificate is %s's; browsers trust it by its domain.\n", st.Mode)
		return
	}
	code, err := pairing.NewCode(p.dataDir, "demo", time.Now())
	link := "LINK (make one with " + cli + " member pair -data " + p.dataDir + " demo)"
	if err == nil {
		id, _ := linkaddr.DeviceID(p.dataDir)
		link = wire.PairLink(hostport, code.Code, id)
	}
	fmt.Fprintf(w, `Trust:       the certificate is self-signed, so browsers warn, and the app cannot be
             installed or send notifications. Two ways to trust it, neither through anyone's server:
  1. Your household's own root (no domain needed), from this computer:
       %[1]s keygen -o ~/doorbell-owner.txt      (once; skip if you have a key)
       %[1]s device add '%[2]s'
                                                  (pairs this computer; the link works once, for %[3]d minutes)
       %[1]s ca sign -i ~/doorbell-owner.txt
     then install the root in the browser: download %[4]s/household-root.crt, and in
     Chromium: Settings > Privacy and security > Security > Manage certificates > Authorities > Import
     (or: certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n doorbell -i household-root.crt).
     Phones: %[4]s/household-root.mobileconfig (iOS) or .crt (Android). The root can vouch only
     for this doorbell's names.
  2. Your own domain, through ACME (DNS-01; no port opened): set [http.acme] in a config file
     (see deploy/doorbell.example.toml) and run: bin/doorbelld -demo -config FILE
`, cli, link, int(pairing.CodeTTL.Minutes()), base)
}
