#!/usr/bin/env bash
# softhsm-tokens.sh DIR LABEL... — an isolated SoftHSM2 store for tests and
# rehearsals: DIR/softhsm2.conf, DIR/tokens/, and one initialized token per
# LABEL with a random user PIN in DIR/LABEL.pin and SO PIN in DIR/LABEL.so-pin
# (mode 0600). Prints the line to source:  export SOFTHSM2_CONF=DIR/softhsm2.conf
#
# The PINs of these throw-away tokens pass through softhsm2-util's argv;
# never use this script for a real token.
set -euo pipefail

if [ $# -lt 2 ]; then
	echo "usage: $0 DIR LABEL..." >&2
	exit 2
fi
if ! command -v softhsm2-util >/dev/null 2>&1; then
	echo "error: softhsm2-util not found" >&2
	echo "hint: install SoftHSM2: apt-get install softhsm2 (or: make deps)" >&2
	exit 1
fi

dir=$1
shift
mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
conf="$dir/softhsm2.conf"
cat >"$conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
slots.mechanisms = ALL
library.reset_on_fork = false
CONF
export SOFTHSM2_CONF="$conf"

random_pin() { printf '%010d' "$(od -An -N4 -tu4 /dev/urandom | tr -d ' \n')"; }

umask 077
for label in "$@"; do
	case "$label" in
	*[!A-Za-z0-9._-]* | "")
		echo "error: token label '$label': use letters, digits, '.', '_' and '-'" >&2
		exit 2
		;;
	esac
	if [ -e "$dir/$label.pin" ]; then
		echo "error: token $label already exists in $dir" >&2
		exit 1
	fi
	pin=$(random_pin)
	so_pin=$(random_pin)
	softhsm2-util --init-token --free --label "$label" --pin "$pin" --so-pin "$so_pin" >/dev/null
	printf '%s\n' "$pin" >"$dir/$label.pin"
	printf '%s\n' "$so_pin" >"$dir/$label.so-pin"
done
echo "export SOFTHSM2_CONF=$conf"
