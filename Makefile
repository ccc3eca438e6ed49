# Doorbell. `make demo` runs the daemon on the synthetic camera;
# `make test` runs the whole suite. Both install what they need first.
SHELL := /bin/bash
export PATH := $(CURDIR)/bin:/usr/local/go/bin:$(PATH)

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -X doorbell/internal/version.Version=$(VERSION) -X doorbell/internal/version.Commit=$(COMMIT)
DEMO_LISTEN ?= 127.0.0.1:8443
TEST_TIMEOUT ?= 25m

.PHONY: setup build demo test lint bench clean

setup:
	@bash deploy/setup.sh

build: setup
	go build -ldflags "$(LDFLAGS)" -o bin/doorbelld ./cmd/doorbelld
	CGO_ENABLED=0 go build -ldflags "$(LDFLAGS)" -o bin/doorbell ./cmd/doorbell

demo: build
	bin/doorbelld -demo -listen $(DEMO_LISTEN)

lint: setup
	@unformatted=$$(gofmt -l $$(git ls-files '*.go') $$(git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted; run gofmt -w"; exit 1; fi
	go vet ./...
	staticcheck ./...

# Every package runs under the race detector: most have goroutines.
test: setup lint
	go test -race -timeout $(TEST_TIMEOUT) ./...

bench: setup
	go test -run '^$$' -bench . -benchmem -timeout 30m ./...

clean:
	rm -rf bin dist
