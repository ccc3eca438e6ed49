# Doorbell. `make demo` runs the daemon on the synthetic camera;
# `make test` runs the whole suite. Both install what they need first.
SHELL := /bin/bash
export PATH := $(CURDIR)/bin:/usr/local/go/bin:$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X doorbell/internal/version.Version=$(VERSION) -X doorbell/internal/version.Commit=$(COMMIT)
# gocv links only the OpenCV modules the doorbell uses (core and imgproc:
# no face or people detectors) with this tag. Set here once, for every go
# command make runs: build, test, vet, staticcheck, bench and the cross
# builds (deploy/build.sh). A build without it fails and says so
# (internal/cvbuild).
GOCV_TAGS := gocv_specific_modules
# The Opus binding (gopkg.in/hraban/opus.v2) without its libopusfile part
# (Ogg files), which the doorbell does not use: doorbelld NEEDs libopus
# only. A build without it stops with a message saying so (stream).
OPUS_TAGS := nolibopusfile
export GOFLAGS := -tags=$(GOCV_TAGS),$(OPUS_TAGS) $(filter-out -tags=%,$(GOFLAGS))
# gocv always compiles its imgcodecs wrappers; nothing calls them, and lld
# with --gc-sections then drops libopencv_imgcodecs (and the tens of MiB of
# image libraries it maps: GDAL, poppler, OpenEXR, ...) from doorbelld's
# NEEDED. GNU ld keeps it. Only for doorbelld's final link: in CGO_LDFLAGS,
# --gc-sections would also empty cgo's list of C imports for programs Go
# links itself (net, runtime/cgo). deploy/build.sh does the same.
DAEMON_LDFLAGS := $(LDFLAGS) -extldflags '-fuse-ld=lld -Wl,--gc-sections'

DEMO_LISTEN ?= 127.0.0.1:8443
TEST_TIMEOUT ?= 25m

.PHONY: setup roots build demo test lint bench bench-peers clean build-arm64 build-amd64 deb deb-amd64 deb-arm64 image fuzz fuzz-short powercut

# Device builds, packages and the SD-card image (deploy/): see README,
# "On the device". Output goes to $(DIST).
DIST ?= dist
# The Debian suite the arm64 build and package are for: trixie (Debian 13,
# current Raspberry Pi OS) or bookworm (Raspberry Pi OS Legacy).
DEB_SUITE ?= trixie
export DEB_SUITE
# The Debian version for the git version (deploy/deb/version.sh).
DEB_VERSION ?= $(shell sh deploy/deb/version.sh '$(VERSION)')

setup:
	@bash deploy/setup.sh

build: setup
	go build -ldflags "$(DAEMON_LDFLAGS)" -o bin/doorbelld ./cmd/doorbelld
	CGO_ENABLED=0 go build -ldflags "$(LDFLAGS)" -o bin/doorbell ./cmd/doorbell
	go build -ldflags "$(LDFLAGS)" -o bin/doorbell-encoder ./cmd/doorbell-encoder

demo: build
	bin/doorbelld -demo -listen $(DEMO_LISTEN)

lint: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') $$(git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted; run gofmt -w"; exit 1; fi
	go vet ./...
	staticcheck ./...

# The arm64 systems the deploy tests cross-compile against and run in
# (deploy/arm64/rootfs.sh: a sysroot and a runtime root per suite, the
# suites of deploy/deploy_test.go), cached in /var/cache/doorbell. They are
# made before the tests, as setup installs packages: on a cold cache they
# take minutes under emulation, which would count against the test
# timeout. deploy/arm64/roots.sh makes the four side by side; on a warm
# cache it checks the cache keys and is done.
roots: setup
	@bash deploy/arm64/roots.sh

# Every package runs under the race detector: most have goroutines. The
# checks and the arm64 roots go side by side: a cold root is mostly qemu
# on one core and downloads, the checks are mostly the compiler.
#
# go test builds and runs packages in the order given, so the slowest go
# first and the short ones fill in around them. Four at a time on two
# cores: these spend much of their time waiting on emulators, browsers and
# sound in real time, and each holds up only itself (the suite passes
# with a second make test beside it).
SLOW_TESTS := ./deploy ./daemon ./recorder/e2e ./recorder/powercut ./cmd/doorbell ./motion ./cmd/doorbelld ./recorder
TEST_PARALLEL ?= 4
test: setup
	@$(MAKE) --no-print-directory -j2 lint roots
	go test -race -p $(TEST_PARALLEL) -timeout $(TEST_TIMEOUT) $(SLOW_TESTS) ./...
	@$(MAKE) --no-print-directory fuzz-short

# The fuzz tests of every parser of outside input, as PACKAGE:FUZZ-TEST:RUNS
# (runs for make test; make fuzz does FUZZ_FACTOR times as many). Their
# seed corpora are in each package's testdata/fuzz. A crasher found is
# written there too: commit it with its fix. Counts, not durations: with
# -fuzztime 4s, Go 1.26's fuzzer may fail with "context deadline exceeded"
# at the deadline on a busy machine (golang/go#75804, fixed in Go 1.27).
FUZZ_TARGETS := ./config:FuzzParse:6000 ./pairing:FuzzParseTokens:50000 \
	./pairing/pairhttp:FuzzPairRequest:15000 ./crypto/members:FuzzParse:60000 \
	./crypto/clip:FuzzOpenCiphertext:20000 ./crypto/clip:FuzzPlaintext:40000 \
	./crypto/clip:FuzzParseSigned:60000 ./stream:FuzzOffer:40000 \
	./wire:FuzzParseDoorbellURL:50000 ./setupcard:FuzzParse:20000
FUZZ_FACTOR ?= 100

# make test runs each for a few seconds (about a minute in all); make fuzz
# for FUZZ_FACTOR times longer.
run-fuzz = set -eo pipefail; for t in $(FUZZ_TARGETS); do \
		IFS=: read -r pkg name runs <<< "$$t"; \
		echo "fuzz $$name in $$pkg: $$(( runs * $(1) )) runs"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime "$$(( runs * $(1) ))x" -parallel 2 "$$pkg" | grep -v '^fuzz: elapsed'; \
	done

fuzz-short:
	@$(call run-fuzz,1)

fuzz: setup
	@$(call run-fuzz,$(FUZZ_FACTOR))

# 30 real power cuts under the recorder, in a virtual machine, then 10 with
# the guest's fsyncs turned off, which the checks must catch (make test runs
# 4 and 1): recorder/powercut.
powercut: setup
	DOORBELL_POWERCUT_CUTS=30 DOORBELL_POWERCUT_NOFSYNC_CUTS=10 go test -count=1 -timeout 90m -run TestPowerCut -v ./recorder/powercut

# One package at a time (-p 1): benchmarks running side by side on two
# cores would measure each other.
bench: setup
	go test -p 1 -run '^$$' -bench . -benchmem -timeout 30m ./...

# Doorbell side by side with Debian's motion and, given GO2RTC=/path/to/go2rtc,
# with go2rtc, in one run: memory, CPU per viewer, time to first picture,
# motion detection cost, each with its ratio (internal/benchpeers).
GO2RTC ?=
bench-peers: build
	go run ./internal/benchpeers -doorbelld bin/doorbelld $(if $(GO2RTC),-go2rtc $(GO2RTC))

clean:
	rm -rf bin dist

# doorbelld (cgo, cross-compiled against DEB_SUITE's arm64 OpenCV), doorbell
# and doorbell-setup (static) for linux/arm64, in $(DIST)/arm64.
build-arm64: setup
	LDFLAGS="$(LDFLAGS)" bash deploy/build.sh arm64 $(DIST)/arm64

# The same for this machine (amd64), in $(DIST)/amd64, for the amd64 package.
build-amd64: setup
	LDFLAGS="$(LDFLAGS)" bash deploy/build.sh amd64 $(DIST)/amd64

# $(DIST)/doorbell_VERSION_amd64.deb and …_arm64.deb; deb-arm64 makes the
# arm64 one alone (the amd64 package does not depend on DEB_SUITE).
deb: deb-amd64 deb-arm64
deb-amd64: build-amd64
	COMMIT=$(COMMIT) bash deploy/deb/build.sh amd64 $(DIST)/amd64 $(DIST) $(DEB_VERSION)
deb-arm64: build-arm64
	COMMIT=$(COMMIT) bash deploy/deb/build.sh arm64 $(DIST)/arm64 $(DIST) $(DEB_VERSION)

# A doorbell SD-card image from a Raspberry Pi OS Lite (trixie, arm64; with
# DEB_SUITE=bookworm, Raspberry Pi OS Lite Legacy) image, or any arm64 Debian
# image of that suite: make image BASE=raspios.img [IMAGE=out.img]
IMAGE ?= $(DIST)/doorbell.img
image: deb
	@test -n "$(BASE)" || { echo "make image: set BASE to a Raspberry Pi OS Lite ($(DEB_SUITE), arm64) image file, e.g. make image BASE=2025-10-01-raspios-trixie-arm64-lite.img"; exit 2; }
	bash deploy/image/build.sh $(BASE) $(IMAGE) $(DIST)/doorbell_$(DEB_VERSION)_arm64.deb
