# tuf-ceremony — see README.md.
SHELL := /bin/bash
GO ?= go
BIN := bin/tuf-ceremony
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all deps build test lint demo clean

all: build

# Installs the Debian packages the project uses when they are missing
# (apt-get as root; otherwise prints the command and fails).
deps:
	@scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/tuf-ceremony

# Every tier runs: a missing system dependency fails the run, never skips.
test: deps
	$(GO) vet ./...
	TUF_CEREMONY_ALL_TIERS=1 $(GO) test -race -count=1 -timeout 20m ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# A rehearsal on throw-away SoftHSM tokens in a temporary directory.
demo: deps build
	@scripts/demo.sh

clean:
	rm -rf bin
