# tuf-ceremony — see README.md.
SHELL := /bin/bash
GO ?= go
BIN := bin/tuf-ceremony
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

# Release builds are reproducible: the same commit gives the same bytes,
# whatever the checkout's path (-trimpath, no build ID, no VCS stamp).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
RELEASE_LDFLAGS := -s -w -buildid= -X main.version=$(VERSION)
RELEASE_FLAGS := -trimpath -buildvcs=false -ldflags "$(RELEASE_LDFLAGS)"

.PHONY: all deps build test lint demo clean release release-check bundle docs fuzz bench

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

# Benchmarks of issue 8: ratios against baselines measured in the same run
# (10 to 20 minutes; BENCH_QUICK=1 for a one-iteration smoke run).
bench: deps
	@scripts/bench/run.sh

# Runs each fuzz target for FUZZTIME (default 60s). An input that fails is
# saved under the package's testdata/fuzz/<FuzzName>/ and fails the run.
FUZZTIME ?= 60s
FUZZ_TARGETS := \
	ceremony:FuzzParsePlan \
	ceremony:FuzzReadTranscript \
	ceremony:FuzzImportMetadata \
	ceremony:FuzzCanonicalJSON \
	ceremony:FuzzEnvelopeMarshal \
	ceremony:FuzzGoTUFReplay \
	ceremony:FuzzGoTUFRootPayload \
	ceremony:FuzzParseTargetsChecked \
	hsm/pkcs11:FuzzParseURI \
	hsm/pkcs11:FuzzURIFields \
	hsm/pkcs11:FuzzURIPINValueNotShown

fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t#*:} ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$${t#*:}\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s ./$${t%%:*}; \
	done

# A rehearsal on throw-away SoftHSM tokens in a temporary directory.
demo: deps build
	@scripts/demo.sh

# bin/tuf-ceremony, reproducibly; prints its SHA-256.
release:
	CGO_ENABLED=1 $(GO) build $(RELEASE_FLAGS) -o $(BIN) ./cmd/tuf-ceremony
	@cd bin && sha256sum tuf-ceremony

# Two clean clones at different paths must build the same bytes.
release-check:
	@scripts/release-check.sh

# Man pages and shell completions in dist/docs.
docs: release
	$(BIN) gen-docs --dir dist/docs

# An offline bundle for the air-gapped machine, in dist/bundle.
bundle: release docs
	@scripts/bundle.sh dist/bundle

clean:
	rm -rf bin dist
