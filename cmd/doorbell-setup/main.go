// Command doorbell-setup is the privileged half of the doorbell's headless
// first-time setup, run by doorbell-setup.service as root before the daemon
// starts: it applies the setup card's Wi-Fi and SSH settings, hands the
// owner's part of the card to the daemon, and erases the card from the boot
// partition. See package doorbell/setupcard.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"strconv"
	"syscall"

	"doorbell/setupcard"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("doorbell-setup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	card := fs.String("card", "/boot/firmware/"+setupcard.FileName, "the setup card on the boot partition")
	staged := fs.String("staged", "/var/lib/doorbell/setup/"+setupcard.FileName, "where the daemon imports the card from (its DOORBELL_SETUP_FILE)")
	owner := fs.String("user", "doorbell", "the daemon's user, who gets the staged card")
	data := fs.String("data", "/var/lib/doorbell", "the daemon's data directory: a doorbell with members there ignores cards")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "doorbell-setup: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	u, err := user.Lookup(*owner)
	if err != nil {
		log.Error("no such user; reinstall the doorbell package, which makes it", "user", *owner, "err", err)
		return 1
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	found, err := setupcard.Stage(ctx, *card, *staged, uid, gid, setupcard.DataDir(*data), setupcard.HostSystem{}, log)
	if err != nil {
		log.Error("setup card", "err", err)
		return 1
	}
	if !found {
		log.Info("no setup card", "looked for", *card)
	}
	return 0
}
