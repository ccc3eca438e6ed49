package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"doorbell/crypto/members"
	"doorbell/internal/termqr"
	"doorbell/pairing"
	"doorbell/pairing/linkaddr"
	"doorbell/tlscert"
	"doorbell/wire"
)

// defaultDataDir is the daemon's data directory unless configured otherwise
// (config device.data_dir).
const defaultDataDir = "/var/lib/doorbell"

const memberUsage = `Usage:
  doorbell member pair [-data DIR] [-addr HOST:PORT] [-json] NAME
  doorbell member tokens [-data DIR] [-json]
  doorbell member revoke [-data DIR] NAME|DEVICE|ID

pair     makes a one-time pairing link for member NAME, valid 10 minutes,
         and prints it with a QR code. Run it on the doorbell, as the user
         the daemon runs as (or root).
tokens   lists the paired devices.
revoke   revokes a member's devices, one device (by name or id), and the
         member's unused pairing links. A running doorbell refuses the
         device at once and ends its live view within a second.
`

// runMember handles "doorbell member ...".
func runMember(args []string, stdout, stderr io.Writer) int {
	return dispatch("member", args, stdout, stderr, memberUsage, memberUsage+"\n"+membersLocalUsage, map[string]subcommand{
		"pair": memberPair, "tokens": memberTokens, "revoke": memberRevoke,
		"add": memberAdd, "list": memberList, "remove": memberRemove, // members_local.go
	})
}

// command is one subcommand's flags and error reporting, in age's style:
// "doorbell: error: what went wrong; what to do".
type command struct {
	name   string
	usage  string // "member add [-data DIR] NAME PUBLIC-KEY"
	fs     *flag.FlagSet
	stderr io.Writer
}

func newCommand(name, usage string, stderr io.Writer) *command {
	fs := flag.NewFlagSet("doorbell "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  doorbell %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return &command{name: name, usage: usage, fs: fs, stderr: stderr}
}

// parse parses flags given before or after the arguments, and checks that
// there are between min and max arguments. It returns the arguments and, if
// parsing ended the command, its exit code.
func (c *command) parse(args []string, min, max int) ([]string, int, bool) {
	var rest []string
	for {
		if err := c.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, 0, false
			}
			return nil, 2, false
		}
		if c.fs.NArg() == 0 {
			break
		}
		rest = append(rest, c.fs.Arg(0))
		args = c.fs.Args()[1:]
	}
	if len(rest) < min || len(rest) > max {
		c.usagef("%s", argsError(c.name, c.usage, rest, min, max))
		return nil, 2, false
	}
	return rest, 0, true
}

// argsError says what a command expected, from its usage line, and what it got.
func argsError(name, usage string, got []string, min, max int) string {
	want := usageArgs(strings.TrimPrefix(usage, name))
	quoted := make([]string, len(got))
	for i, g := range got {
		quoted[i] = strconvQuote(g)
	}
	switch {
	case max == 0:
		return fmt.Sprintf("doorbell %s takes no arguments, only flags, but got %s", name, strings.Join(quoted, " "))
	case len(got) == 0:
		return fmt.Sprintf("doorbell %s needs %s, and got none", name, strings.Join(want, " "))
	case len(got) < min:
		missing := ""
		if len(want) > len(got) {
			missing = "; missing " + strings.Join(want[len(got):min], " ")
		}
		return fmt.Sprintf("doorbell %s needs %s, but got only %s%s", name, strings.Join(want, " "), strings.Join(quoted, " "), missing)
	}
	return fmt.Sprintf("doorbell %s takes %s, but got %d arguments: %s (quote a name with spaces: \"Anna's phone\")",
		name, strings.Join(want, " "), len(got), strings.Join(quoted, " "))
}

// usageArgs returns the arguments a usage line names, flags left out:
// "[-data DIR] NAME PUBLIC-KEY" gives NAME PUBLIC-KEY, "-i FILE [-o OUT] CLIP"
// gives CLIP, "URL [CODE]" gives URL [CODE].
func usageArgs(usage string) []string {
	var out []string
	fields := strings.Fields(usage)
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		switch {
		case strings.HasPrefix(f, "[-"):
			for !strings.HasSuffix(fields[i], "]") && i+1 < len(fields) {
				i++
			}
		case strings.HasPrefix(f, "-"):
			if i+1 < len(fields) && strings.ToUpper(fields[i+1]) == fields[i+1] {
				i++ // the flag's value
			}
		default:
			out = append(out, f)
		}
	}
	return out
}

func (c *command) usagef(format string, args ...any) {
	fmt.Fprintf(c.stderr, "doorbell: error: %s\n", terminalSafeLines(fmt.Sprintf(format, args...)))
	c.fs.Usage()
}

// failf reports an error, which may quote what a doorbell or a clip said:
// control characters are escaped (escape.go).
func (c *command) failf(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "doorbell: error: %s\n", terminalSafeLines(fmt.Sprintf(format, args...)))
	return 1
}

func dataFlag(fs *flag.FlagSet) *string {
	return fs.String("data", defaultDataDir, "the doorbell's data `DIR` (config device.data_dir)")
}

func checkDataDir(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("the data directory %s does not exist; give the doorbell's data directory with -data DIR (config device.data_dir)", dir)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("cannot open the data directory %s: permission denied; run as the user the daemon runs as (sudo -u doorbell doorbell ...) or as root", dir)
	case err != nil:
		return fmt.Errorf("cannot use the data directory %s: %w", dir, err)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a directory; give the doorbell's data directory with -data DIR", dir)
	}
	return nil
}

func memberPair(args []string, stdout, stderr io.Writer) int {
	c := newCommand("member pair", "member pair [-data DIR] [-addr HOST:PORT] [-json] NAME", stderr)
	data := dataFlag(c.fs)
	addr := c.fs.String("addr", "", "the doorbell's address in the link, `HOST:PORT` as phones reach it (default: where the daemon listens, with this machine's LAN address)")
	asJSON := c.fs.Bool("json", false, `print {"link":…,"code":…,"expires":…} instead of text and a QR code`)
	args, code, ok := c.parse(args, 1, 1)
	if !ok {
		return code
	}
	member := args[0]
	if err := members.CheckName(member); err != nil {
		c.usagef("%v", err)
		return 2
	}
	if err := checkDataDir(*data); err != nil {
		return c.failf("%v", err)
	}
	hostport, err := linkaddr.ForLinks(*data, *addr)
	if err != nil {
		return c.failf("%v", err)
	}
	pc, err := pairing.NewCode(*data, member, time.Now())
	if err != nil {
		return c.failf("%v", err)
	}
	deviceID, err := linkaddr.DeviceID(*data)
	if err != nil {
		return c.failf("%v", err)
	}
	if deviceID == "" {
		fmt.Fprintln(stderr, "doorbell: warning: the link carries no device ID, because doorbelld has not started with this data directory yet; start it and make the link again, so that the phone or computer can check the doorbell before it sends the code")
	}
	link := wire.PairLink(hostport, pc.Code, deviceID)
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(struct {
			Link    string    `json:"link"`
			Code    string    `json:"code"`
			Expires time.Time `json:"expires"`
			Member  string    `json:"member"`
		}{link, pc.Code, pc.Expires, member})
		return 0
	}
	fmt.Fprintf(stdout, "Pairing link for %s. It works once, until %s (%d minutes):\n\n  %s\n\n",
		member, pc.Expires.Local().Format("15:04"), int(pairing.CodeTTL.Minutes()), link)
	if err := termqr.Write(stdout, link, colorTerminal(stdout)); err != nil {
		fmt.Fprintf(stderr, "doorbell: cannot draw the QR code: %v\n", err)
	}
	fmt.Fprintf(stdout, "\nOpen the link on %s's phone, or scan the QR code with its camera. The phone must be on the doorbell's network.\n", member)
	switch mode, fp, err := tlscert.Served(*data, time.Now()); {
	case err != nil:
	case mode == tlscert.ModeACME:
		fmt.Fprintln(stdout, "The doorbell's certificate is from a public certificate authority (ACME), so the browser trusts it without a warning.")
	case mode == tlscert.ModeHousehold:
		fmt.Fprintf(stdout, "The doorbell's certificate is issued by the household's root: a phone that installed the root trusts it; on a new phone the browser warns once, and the app then offers the root. Accept the warning only if the SHA-256 fingerprint is\n  %s\n", fp)
	default:
		fmt.Fprintf(stdout, "The doorbell's certificate is self-signed, so the browser warns once. Accept it only if its SHA-256 fingerprint is\n  %s\n", fp)
	}
	fmt.Fprintln(stdout, "Keep the link private: whoever opens it first is paired.")
	return 0
}

// colorTerminal says whether w is a terminal that takes colours.
func colorTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func memberTokens(args []string, stdout, stderr io.Writer) int {
	c := newCommand("member tokens", "member tokens [-data DIR] [-json]", stderr)
	data := dataFlag(c.fs)
	asJSON := c.fs.Bool("json", false, "print JSON")
	if _, code, ok := c.parse(args, 0, 0); !ok {
		return code
	}
	if err := checkDataDir(*data); err != nil {
		return c.failf("%v", err)
	}
	tokens, err := pairing.List(*data)
	if err != nil {
		return c.failf("%v", err)
	}
	if *asJSON {
		type device struct {
			ID       string     `json:"id"`
			Member   string     `json:"member"`
			Device   string     `json:"device"`
			Paired   time.Time  `json:"paired"`
			LastUsed *time.Time `json:"last_used,omitempty"`
		}
		out := make([]device, len(tokens))
		for i, t := range tokens {
			out[i] = device{ID: t.ID, Member: t.Member, Device: t.Device, Paired: t.Paired}
			if !t.LastUsed.IsZero() {
				out[i].LastUsed = &tokens[i].LastUsed
			}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return 0
	}
	if len(tokens) == 0 {
		fmt.Fprintf(stdout, "No paired devices. Pair one with: doorbell member pair -data %s NAME\n", *data)
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tMEMBER\tDEVICE\tPAIRED\tLAST USED")
	for _, t := range tokens {
		last := "never"
		if !t.LastUsed.IsZero() {
			last = t.LastUsed.UTC().Format("2006-01-02") // kept to the day
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", terminalSafe(t.ID), terminalSafe(t.Member), terminalSafe(t.Device), t.Paired.Local().Format("2006-01-02 15:04"), last)
	}
	tw.Flush()
	return 0
}

func memberRevoke(args []string, stdout, stderr io.Writer) int {
	c := newCommand("member revoke", "member revoke [-data DIR] NAME|DEVICE|ID", stderr)
	data := dataFlag(c.fs)
	args, code, ok := c.parse(args, 1, 1)
	if !ok {
		return code
	}
	who := strings.TrimSpace(args[0])
	if who == "" {
		c.usagef("the name is empty; give a member's name, a device's name or an id from doorbell member tokens")
		return 2
	}
	if err := checkDataDir(*data); err != nil {
		return c.failf("%v", err)
	}
	gone, codes, err := pairing.Revoke(*data, who)
	if errors.Is(err, pairing.ErrNoMatch) {
		return c.failf("no member, device or id %q among the paired devices; list them with: doorbell member tokens -data %s", who, *data)
	}
	if err != nil {
		return c.failf("%v", err)
	}
	for _, t := range gone {
		fmt.Fprintf(stdout, "Revoked %s of %s (id %s).\n", terminalSafe(t.Device), terminalSafe(t.Member), t.ID)
		if t.Recipient != "" {
			fmt.Fprintf(stdout, "Its key is gone with it: clips from now on are not sealed to %s.\n", terminalSafe(t.Device))
		}
	}
	if codes > 0 {
		fmt.Fprintf(stdout, "Removed %d unused pairing link(s) for %s.\n", codes, who)
	}
	if len(gone) > 0 {
		fmt.Fprintln(stdout, "A running doorbell refuses them now and ends their live view within a second.")
	}
	return 0
}
