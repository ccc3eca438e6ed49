// Command doorbell is the household's tool: keys, members, pairing and clips.
// It is pure Go (CGO_ENABLED=0) because members run it on their own computers.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"doorbell/internal/version"
)

const usage = `Usage:
On your own computer:
  doorbell keygen [-o FILE] [-classic] [-passphrase]     make your age key; prints its public key
  doorbell device add [-name NAME] URL CODE              pair this computer with a doorbell
  doorbell device remove URL                             forget a paired doorbell (also: device forget)
  doorbell clips list [-from URL|DIR] -i IDENTITY        list events: time, kind, duration, signature
  doorbell clips pull [-from URL] DIR                    download new sealed clips
  doorbell clips pull -from s3://BUCKET/PREFIX -endpoint URL DIR
                                                         reassemble clips from the household's replica
  doorbell clips open -i IDENTITY CLIP [-o OUT.mp4]      decrypt and verify a clip
  doorbell ca sign -i IDENTITY [-from URL]                trust the doorbell through your household root
  doorbell ca show [-from URL]                           where the root is, its fingerprint and names
  doorbell setup-card -o FILE -owner NAME -i IDENTITY [-wifi SSID -wifi-country CC] [-ssh]
                                                         write a first-boot setup card
On the doorbell (DIR is its data directory, /var/lib/doorbell):
  doorbell member add -data DIR NAME PUBLIC-KEY          add a member: clips are sealed to them
  doorbell member list -data DIR                         list the members
  doorbell member remove -data DIR NAME                  remove a member and revoke their devices
  doorbell member pair -data DIR [-json] NAME            a one-time link to pair a member's phone
  doorbell member tokens -data DIR                       list paired devices
  doorbell member revoke -data DIR NAME|DEVICE           revoke a member's or a device's access
  doorbell device id -data DIR                           print the doorbell's fingerprints
  doorbell device rekey -data DIR                        new keys after the SD card was copied; revokes every device
  doorbell --version
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-version", "--version", "version":
		fmt.Fprintln(stdout, version.String("doorbell"))
		return 0
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	case "member":
		return runMember(args[1:], stdout, stderr)
	case "device":
		return runDevice(args[1:], stdout, stderr)
	case "keygen":
		return runKeygen(args[1:], stdout, stderr)
	case "clips":
		return runClips(args[1:], stdout, stderr)
	case "ca":
		return runCA(args[1:], stdout, stderr)
	case "setup-card":
		return runSetupCard(args[1:], os.Stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "doorbell: error: unknown command %q\n%s", args[0], usage)
	return 2
}

// subcommand runs one command of a group, such as "member pair".
type subcommand func(args []string, stdout, stderr io.Writer) int

// dispatch runs the command of group that args name: usage goes to stderr
// when none is named or it is unknown (exit 2), help to stdout on -h.
func dispatch(group string, args []string, stdout, stderr io.Writer, usage, help string, cmds map[string]subcommand) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, help)
		return 0
	}
	if cmd, ok := cmds[args[0]]; ok {
		return cmd(args[1:], stdout, stderr)
	}
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(stderr, "doorbell: error: unknown command \"%s %s\"; the %s commands are: %s\n%s",
		group, terminalSafe(args[0]), group, strings.Join(names, ", "), usage)
	return 2
}
