#!/usr/bin/env bash
# deps.sh — install the Debian packages tuf-ceremony's tests and rehearsals
# use, when missing. As root it runs apt-get; otherwise it prints the exact
# command to run and fails.
set -euo pipefail

packages=(softhsm2 opensc pcscd libpcsclite-dev vsmartcard-vpcd yubico-piv-tool tmux
	python3-securesystemslib python3-cryptography python3-nacl)
# Debian's node and npm only where there is no node: a nodesource nodejs
# provides npm itself and conflicts with Debian's npm.
if ! command -v node >/dev/null 2>&1; then
	packages+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
	echo "error: node is installed without npm" >&2
	echo "hint: install the npm that goes with this node" >&2
	exit 1
fi

if ! command -v go >/dev/null 2>&1; then
	echo "error: go not found" >&2
	echo "hint: install Go (https://go.dev/dl/) and put it on PATH" >&2
	exit 1
fi
if ! command -v dpkg-query >/dev/null 2>&1; then
	echo "error: this is not a Debian-based system; install the equivalents of: ${packages[*]}" >&2
	exit 1
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	cmd="apt-get install -y --no-install-recommends ${missing[*]}"
	if [ "$(id -u)" -ne 0 ]; then
		echo "error: missing Debian packages: ${missing[*]}" >&2
		echo "hint: run: sudo apt-get update && sudo $cmd" >&2
		exit 1
	fi
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	$cmd -qq >/dev/null
fi

# tuf-js, the independent client the tests compare with, exactly as pinned.
clients="$(cd "$(dirname "$0")" && pwd)/clients"
if ! cmp -s "$clients/package-lock.json" "$clients/node_modules/.tuf-ceremony-lock.json"; then
	echo "installing tuf-js as pinned in scripts/clients/package-lock.json"
	npm ci --prefix "$clients" --no-audit --no-fund --ignore-scripts --loglevel=error
	cp "$clients/package-lock.json" "$clients/node_modules/.tuf-ceremony-lock.json"
fi
