// Command doorbelld is the doorbell's daemon: it reads the config, starts the
// camera, detectors, encoder and HTTPS server, and stops cleanly on a signal.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"gocv.io/x/gocv"

	"doorbell/config"
	"doorbell/daemon"
	"doorbell/internal/version"
	"doorbell/wire"
)

const defaultConfig = "/etc/doorbell/doorbell.toml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "motion-scan" {
		return runMotionScan(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("doorbelld", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "config file (default "+defaultConfig+"; none with -demo)")
	demo := fs.Bool("demo", false, "run on the built-in synthetic camera, no hardware; data is kept in "+demoDataHint+" between runs unless -data says otherwise")
	listen := fs.String("listen", "", "HTTPS address HOST:PORT (overrides http.listen)")
	dataDir := fs.String("data", "", "data directory for keys and clips (overrides device.data_dir)")
	logFormat := fs.String("log-format", "", "log format: text or json (overrides log.format)")
	checkConfig := fs.String("check-config", "", "check the config file `FILE` and exit: 0 if it is fine, 2 with the errors")
	showVersion := fs.Bool("version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  doorbelld [-config FILE] [-demo] [-listen HOST:PORT] [-data DIR] [-log-format text|json]\n  doorbelld -check-config FILE\n  doorbelld motion-scan [-config FILE] [-zone POLYGON]... [-debug-out DIR] VIDEO\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "doorbelld: unexpected argument %q; see doorbelld -h\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "%s, OpenCV %s\n", version.String("doorbelld"), gocv.OpenCVVersion())
		return 0
	}
	if *checkConfig != "" {
		if _, err := config.Load(*checkConfig); err != nil {
			fmt.Fprintln(stderr, err)
			return 2
		}
		fmt.Fprintf(stdout, "%s: ok\n", *checkConfig)
		return 0
	}

	cfg, err := loadConfig(*configPath, *demo)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if *listen != "" {
		cfg.HTTP.Listen = *listen
	} else if *demo && *configPath == "" {
		cfg.HTTP.Listen = "127.0.0.1:" + wire.DefaultPort
	}
	if *logFormat != "" {
		cfg.Log.Format = *logFormat
	}
	if err := config.Recheck(&cfg); err != nil {
		fmt.Fprintf(stderr, "doorbelld: %v\n", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)

	dir := *dataDir
	switch {
	case dir != "":
	case *demo:
		// Kept between runs, so that a paired browser stays paired.
		if dir, err = demoDataDir(); err != nil {
			fmt.Fprintf(stderr, "doorbelld: %v\n", err)
			return 1
		}
	default:
		dir = cfg.Device.DataDir
	}
	if err := daemon.PrepareDataDir(dir); err != nil {
		fmt.Fprintf(stderr, "doorbelld: %v\n", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	daemon.ApplyMemory(cfg.Memory, log)
	opts := daemon.Options{Config: cfg, DataDir: dir, Log: log}
	if *demo {
		opts.Demo = &daemon.Demo{Out: stdout, Input: os.Stdin}
		opts.Listening = func(addr string) {
			kept := "given with -data: kept as it is"
			if *dataDir == "" {
				kept = "kept between runs, so paired browsers stay paired;\n             to start afresh, stop the demo and remove it: rm -rf " + dir
			}
			fmt.Fprintf(stdout, "Doorbell demo is running on the synthetic camera.\nStatus page: https://%s/healthz\nData dir:    %s\n             (%s)\nPress Ctrl-C to stop.\n", addr, dir, kept)
		}
	}
	d := daemon.New(opts)
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(stderr, "doorbelld: %v\n", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// demoDataHint names the demo's data directory in -help.
const demoDataHint = "$XDG_STATE_HOME/doorbell-demo (~/.local/state/doorbell-demo)"

// demoDataDir is where the demo keeps its data between runs.
func demoDataDir() (string, error) {
	base := os.Getenv("XDG_STATE_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil { // no $HOME (a service, a bare shell): the temporary directory still keeps it between runs
			home = os.TempDir()
		}
		base = filepath.Join(home, ".local", "state")
	}
	dir := filepath.Join(base, "doorbell-demo")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("cannot make the demo's data directory: %w; give one with -data DIR", err)
	}
	return dir, nil
}

// loadConfig reads the config file, or uses the defaults in demo mode.
func loadConfig(path string, demo bool) (config.Config, error) {
	if path == "" && demo {
		cfg := config.Defaults()
		cfg.File = "(demo defaults)"
		return cfg, nil
	}
	if path == "" {
		path = defaultConfig
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return config.Config{}, fmt.Errorf("doorbelld: no config file at %s; copy deploy/doorbell.example.toml there, pass -config FILE, or try -demo", path)
		}
	}
	cfg, err := config.Load(path)
	if err != nil {
		return cfg, err
	}
	if demo {
		cfg.Camera.Source = "synthetic"
	}
	return cfg, nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
