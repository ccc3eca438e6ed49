package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"doorbell/crypto/keys"
	"doorbell/crypto/members"
	"doorbell/pairing"
)

// The household's keys, on the device: doorbell member add/list/remove.
const membersLocalUsage = `  doorbell member add [-data DIR] NAME PUBLIC-KEY
  doorbell member list [-data DIR] [-json]
  doorbell member remove [-data DIR] NAME

add      adds member NAME with their age public key (age1pq1… or age1…, from
         doorbell keygen); clips from now on are sealed to them too. A running
         doorbell picks the change up within 2 s.
list     lists the members, their keys and paired devices: the key given to
         member add, and each key a phone made for itself at pairing.
remove   removes member NAME: clips from now on are not sealed to them, and
         their paired devices are revoked, with the phones' keys. Clips they already have stay theirs.
`

func memberAdd(args []string, stdout, stderr io.Writer) int {
	c := newCommand("member add", "member add [-data DIR] NAME PUBLIC-KEY", stderr)
	data := dataFlag(c.fs)
	args, code, ok := c.parse(args, 2, 2)
	if !ok {
		return code
	}
	name, recipient := args[0], args[1]
	if err := members.CheckName(name); err != nil {
		c.usagef("%v", err)
		return 2
	}
	if _, _, err := keys.ParseRecipient(recipient); err != nil {
		return c.failf("%v", err)
	}
	if err := checkDataDir(*data); err != nil {
		return c.failf("%v", err)
	}
	reg, err := members.Add(*data, name, recipient, time.Now())
	if err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintf(stdout, "Added %s. Clips from now on are sealed to %d member(s): %s.\n", name, reg.Len(), strings.Join(reg.Names(), ", "))
	return 0
}

func memberList(args []string, stdout, stderr io.Writer) int {
	c := newCommand("member list", "member list [-data DIR] [-json]", stderr)
	data := dataFlag(c.fs)
	asJSON := c.fs.Bool("json", false, "print JSON")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	if err := checkDataDir(*data); err != nil {
		return c.failf("%v", err)
	}
	reg, err := members.Load(*data)
	if err != nil {
		return c.failf("%v", err)
	}
	tokens, _ := pairing.List(*data)
	// devicesOf are member m's paired devices, by identity (older tokens by name).
	devicesOf := func(m members.Member) []pairing.Token {
		var out []pairing.Token
		for _, t := range tokens {
			if t.MemberID == m.ID() || t.MemberID == "" && strings.EqualFold(t.Member, m.Name) {
				out = append(out, t)
			}
		}
		return out
	}
	if *asJSON {
		type key struct {
			Recipient string     `json:"recipient"`
			From      string     `json:"from"`             // "member" (doorbell member add) or "phone" (made on the phone at pairing)
			Device    string     `json:"device,omitempty"` // the phone's name
			DeviceID  string     `json:"device_id,omitempty"`
			Since     *time.Time `json:"since,omitempty"`
		}
		type member struct {
			Name      string    `json:"name"`
			Recipient string    `json:"recipient"`
			Added     time.Time `json:"added"`
			Devices   int       `json:"paired_devices"`
			Keys      []key     `json:"keys"`
		}
		out := []member{}
		for _, m := range reg.Members() {
			ds := devicesOf(m)
			j := member{Name: m.Name, Recipient: m.Recipient, Added: m.Added, Devices: len(ds),
				Keys: []key{{Recipient: m.Recipient, From: "member", Since: &m.Added}}}
			for _, t := range ds {
				if t.Recipient != "" {
					j.Keys = append(j.Keys, key{Recipient: t.Recipient, From: "phone", Device: t.Device, DeviceID: t.ID, Since: &t.Paired})
				}
			}
			out = append(out, j)
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return 0
	}
	if reg.Len() == 0 {
		fmt.Fprintf(stdout, "No members: the doorbell records nothing. Add one with: doorbell member add -data %s NAME PUBLIC-KEY\n", *data)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPUBLIC KEY\tADDED\tPAIRED DEVICES")
	for _, m := range reg.Members() {
		ds := devicesOf(m)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", m.Name, shortKey(m.Recipient), m.Added.Local().Format("2006-01-02 15:04"), len(ds))
		for _, t := range ds {
			if t.Recipient != "" {
				fmt.Fprintf(tw, "  key of %s\t%s\t%s\t\n", t.Device, shortKey(t.Recipient), t.Paired.Local().Format("2006-01-02 15:04"))
			}
		}
	}
	tw.Flush()
	fmt.Fprintf(stdout, "Keys: %s.\n", reg.Kind())
	return 0
}

func shortKey(r string) string {
	if len(r) <= 24 {
		return r
	}
	return r[:16] + "…" + r[len(r)-6:]
}

func memberRemove(args []string, stdout, stderr io.Writer) int {
	c := newCommand("member remove", "member remove [-data DIR] NAME", stderr)
	data := dataFlag(c.fs)
	args, code, ok := c.parse(args, 1, 1)
	if !ok {
		return code
	}
	name := args[0]
	if err := checkDataDir(*data); err != nil {
		return c.failf("%v", err)
	}
	// One atomic replacement of the member list ends the member's access:
	// a running doorbell refuses every device of a member it no longer
	// lists, and ends their live view and event streams.
	reg, gone, err := members.Remove(*data, name)
	if err != nil {
		return c.failf("%v", err)
	}
	fmt.Fprintf(stdout, "Removed %s: clips from now on are not sealed to them, and their paired devices are refused", gone.Name)
	if reg.Len() == 0 {
		fmt.Fprint(stdout, "; the household has no members left, so the doorbell records nothing until one is added")
	}
	fmt.Fprintln(stdout, ".")
	// Then their tokens and unused pairing links go, by identity: a device
	// of someone else that is named like them stays.
	revoked, codes, err := pairing.RevokeMember(*data, gone)
	if err != nil {
		return c.failf("%s can no longer connect, but their paired devices could not be deleted from the list: %v; run doorbell member revoke -data %s %s", gone.Name, err, *data, gone.Name)
	}
	for _, t := range revoked {
		fmt.Fprintf(stdout, "Revoked %s of %s (id %s).\n", terminalSafe(t.Device), terminalSafe(t.Member), t.ID)
		if t.Recipient != "" {
			fmt.Fprintf(stdout, "Its key is gone with it: clips from now on are not sealed to %s.\n", terminalSafe(t.Device))
		}
	}
	if codes > 0 {
		fmt.Fprintf(stdout, "Removed %d unused pairing link(s) for %s.\n", codes, gone.Name)
	}
	return 0
}
