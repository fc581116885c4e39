#!/usr/bin/env bash
# virtual-yubikeys.sh — an isolated pcscd with N virtual YubiKeys
# (cmd/virtual-yubikey) for tests, rehearsals and `make demo`.
#
#   virtual-yubikeys.sh start [-n N] [-d DIR] [--touch auto|wait] [--firmware X.Y.Z]
#       Starts a private pcscd and N cards (default 1) in DIR (default: a new
#       temporary directory), waits until pcscd sees every card, and prints
#       the environment to use (eval "$(virtual-yubikeys.sh start)"):
#         export PCSCLITE_CSOCK_NAME=DIR/run/pcscd.comm   (pcsc-lite clients: piv-go, yubico-piv-tool, opensc)
#         export VIRTUAL_YUBIKEYS_DIR=DIR
#         export VIRTUAL_YUBIKEYS_CA=DIR/ca.pem            (the cards' attestation roots, NOT Yubico's)
#       On stderr, one line per card with its serial, reader name and pid;
#       DIR/cards lists them too (index, serial, pid, reader; tab-separated).
#       Cards keep their state in DIR/cardI.json: start again with the same
#       DIR and they come back with their keys.
#   virtual-yubikeys.sh stop [DIR]         stops the cards and pcscd (DIR defaults to $VIRTUAL_YUBIKEYS_DIR)
#   virtual-yubikeys.sh touch [DIR] I      touches card I (1-based) of a --touch wait set
#   virtual-yubikeys.sh pcscd DIR N PORT   runs the private pcscd in the foreground (used by start)
#
# Isolation (the same as hsm/virtualpiv.StartPCSCD, which tests and the
# TUI's rehearsal use): pcscd 1.9.9 always listens on /run/pcscd/pcscd.comm (it ignores
# PCSCLITE_CSOCK_NAME; only the client library honours it), so the private
# pcscd runs in its own mount namespace (unshare; as root, or as a user with
# unprivileged user namespaces) where DIR/runroot is mounted over /run and
# /run/pcscd links to DIR/run, and where an empty directory hides the USB
# drivers, so it never touches real readers or a system pcscd. Each pair of
# cards gets its own copy of the vpcd driver, whose slots listen on two
# consecutive TCP ports (the driver keeps its two slots in static memory, so
# a shared copy would serve only two cards); readers are named
# "Virtual YubiKey K 00 00" and "Virtual YubiKey K 00 01".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
vpcd_driver=${VPCD_DRIVER:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}

die() {
	echo "error: $1" >&2
	shift
	for h in "$@"; do echo "hint: $h" >&2; done
	exit 1
}

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# pcscd_bin prints the path of pcscd (in /usr/sbin, often not on a user's PATH).
pcscd_bin() {
	command -v pcscd 2>/dev/null || { [ -x /usr/sbin/pcscd ] && echo /usr/sbin/pcscd; }
}

need_tools() {
	pcscd_bin >/dev/null || die "pcscd not found" "install it: apt-get install pcscd libpcsclite-dev (or: make deps)"
	[ -f "$vpcd_driver" ] || die "vpcd driver $vpcd_driver not found" "install it: apt-get install vsmartcard-vpcd (or: make deps)"
	command -v unshare >/dev/null 2>&1 || die "unshare not found" "install util-linux"
}

# namespace_cmd prints the unshare command that gives a private mount namespace.
namespace_cmd() {
	if [ "$(id -u)" -eq 0 ]; then
		echo "unshare -m --propagation private"
	else
		echo "unshare -r -m --propagation private"
	fi
}

# write_config DIR N PORT: reader.conf.d with one vpcd entry per pair of cards.
write_config() {
	local dir=$1 n=$2 port=$3 k
	rm -rf "$dir/reader.conf.d" "$dir/drivers"
	mkdir -p "$dir/reader.conf.d" "$dir/drivers" "$dir/run" "$dir/runroot" "$dir/empty"
	ln -sfn "$dir/run" "$dir/runroot/pcscd"
	for ((k = 0; k < (n + 1) / 2; k++)); do
		cp "$vpcd_driver" "$dir/drivers/vpcd-$k.so"
		cat >"$dir/reader.conf.d/virtual-yubikey-$k" <<EOF
FRIENDLYNAME "Virtual YubiKey $k"
DEVICENAME   /dev/null:$((port + 2 * k))
LIBPATH      $dir/drivers/vpcd-$k.so
CHANNELID    $((port + 2 * k))
EOF
	done
}

# run_pcscd DIR N PORT: the private pcscd, in the foreground.
run_pcscd() {
	local dir n port
	dir=$(cd "$1" && pwd)
	n=$2 port=$3
	case "$dir" in /run | /run/*) die "$dir is under /run, which the private pcscd replaces" "use a directory elsewhere (e.g. under /tmp)" ;; esac
	need_tools
	write_config "$dir" "$n" "$port"
	# shellcheck disable=SC2016 # expanded by the inner shell
	exec $(namespace_cmd) sh -c '
		set -e
		dir=$1
		mount --bind "$dir/runroot" /run
		if [ -d /usr/lib/pcsc/drivers ]; then mount --bind "$dir/empty" /usr/lib/pcsc/drivers; fi
		exec "$2" --foreground --info --config "$dir/reader.conf.d"
	' sh "$dir" "$(pcscd_bin)"
}

port_busy() {
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

# free_base_port N: an even port with N consecutive free ports after it.
free_base_port() {
	local n=$1 try base i busy
	for try in $(seq 1 50); do
		base=$(((RANDOM % 15000) * 2 + 20000))
		busy=0
		for ((i = 0; i < n; i++)); do
			if port_busy $((base + i)); then busy=1 && break; fi
		done
		[ $busy -eq 0 ] && echo "$base" && return 0
	done
	die "no free TCP ports found for vpcd"
}

binary() {
	if [ -n "${VIRTUAL_YUBIKEY:-}" ]; then
		echo "$VIRTUAL_YUBIKEY"
		return
	fi
	local bin="$root/bin/virtual-yubikey"
	if command -v go >/dev/null 2>&1; then
		(cd "$root" && go build -o "$bin" ./cmd/virtual-yubikey) >&2 || die "failed to build cmd/virtual-yubikey"
	fi
	[ -x "$bin" ] || die "$bin missing and go not found" "install Go, or set VIRTUAL_YUBIKEY to the binary"
	echo "$bin"
}

wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

start() {
	local n=1 dir="" touch=auto firmware="" bin port attempt i k slot reader
	while [ $# -gt 0 ]; do
		case "$1" in
		-n) n=$2 && shift 2 ;;
		-d) dir=$2 && shift 2 ;;
		--touch) touch=$2 && shift 2 ;;
		--firmware) firmware=$2 && shift 2 ;;
		*) usage ;;
		esac
	done
	case "$n" in '' | *[!0-9]*) die "-n $n: want a number from 1 to 16" ;; esac
	[ "$n" -ge 1 ] && [ "$n" -le 16 ] || die "-n $n: want a number from 1 to 16" "pcscd serves at most 16 readers"
	need_tools
	bin=$(binary)
	[ -n "$dir" ] || dir=$(mktemp -d -t virtual-yubikeys.XXXXXX)
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[ ! -e "$dir/pcscd.pid" ] || die "$dir already has a running set" "run: $0 stop $dir"

	for attempt in 1 2 3 4 5; do
		port=$(free_base_port $((2 * ((n + 1) / 2))))
		setsid "$0" pcscd "$dir" "$n" "$port" >"$dir/pcscd.log" 2>&1 </dev/null &
		echo $! >"$dir/pcscd.pid"
		if wait_for 10 test -S "$dir/run/pcscd.comm" && ! grep -q "Could not initialize" "$dir/pcscd.log"; then
			break
		fi
		kill "$(cat "$dir/pcscd.pid")" 2>/dev/null || true
		rm -f "$dir/pcscd.pid"
		[ "$attempt" -lt 5 ] || die "pcscd did not start; see $dir/pcscd.log" "$(tail -3 "$dir/pcscd.log" | tr '\n' ' ')"
		sleep 0.2
	done
	echo "$port" >"$dir/port"

	for ((i = 1; i <= n; i++)); do
		k=$(((i - 1) / 2)) slot=$(((i - 1) % 2))
		args=(run --state "$dir/card$i.json" --vpcd "127.0.0.1:$((port + i - 1))" --touch "$touch")
		[ -z "$firmware" ] || [ -e "$dir/card$i.json" ] || args+=(--firmware "$firmware")
		setsid "$bin" "${args[@]}" >"$dir/card$i.log" 2>&1 </dev/null &
		echo $! >"$dir/card$i.pid"
		echo "Virtual YubiKey $k 00 0$slot" >"$dir/card$i.reader"
	done
	for ((i = 1; i <= n; i++)); do
		reader=$(cat "$dir/card$i.reader")
		wait_for 15 grep -q "Card inserted into $reader" "$dir/pcscd.log" ||
			die "card $i did not appear in reader '$reader'; see $dir/card$i.log" "$(tail -3 "$dir/card$i.log" | tr '\n' ' ')"
	done
	: >"$dir/ca.pem"
	for ((i = 1; i <= n; i++)); do
		"$bin" ca --state "$dir/card$i.json" >>"$dir/ca.pem" 2>/dev/null
	done

	: >"$dir/cards"
	for ((i = 1; i <= n; i++)); do
		serial=$(grep -o '"serial": [0-9]*' "$dir/card$i.json" | grep -o '[0-9]*$')
		printf '%s\t%s\t%s\t%s\n' "$i" "$serial" "$(cat "$dir/card$i.pid")" "$(cat "$dir/card$i.reader")" >>"$dir/cards"
		echo "card $i: serial $serial, reader \"$(cat "$dir/card$i.reader")\", pid $(cat "$dir/card$i.pid"), touch $touch, state $dir/card$i.json" >&2
	done
	echo "attestation roots (virtual vendor, NOT Yubico): $dir/ca.pem; stop with: $0 stop $dir" >&2
	echo "export PCSCLITE_CSOCK_NAME=$dir/run/pcscd.comm"
	echo "export VIRTUAL_YUBIKEYS_DIR=$dir"
	echo "export VIRTUAL_YUBIKEYS_CA=$dir/ca.pem"
}

dead() { # dead PID: gone, or a zombie waiting to be reaped
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) || return 0
	[[ $st == Z* ]]
}

stop_pid() { # stop_pid FILE: TERM the process in FILE and wait for it
	local pid
	[ -f "$1" ] || return 0
	pid=$(cat "$1")
	if kill "$pid" 2>/dev/null; then
		wait_for 5 dead "$pid" || kill -9 "$pid" 2>/dev/null || true
	fi
	rm -f "$1"
}

stop() {
	local dir=${1:-${VIRTUAL_YUBIKEYS_DIR:-}} f
	[ -n "$dir" ] || die "which set? give its directory" "usage: $0 stop DIR"
	[ -d "$dir" ] || die "$dir does not exist"
	for f in "$dir"/card*.pid; do
		[ -e "$f" ] && stop_pid "$f"
	done
	stop_pid "$dir/pcscd.pid"
	echo "stopped the virtual YubiKeys in $dir (their state stays in $dir/card*.json)" >&2
}

touch_card() {
	local dir i
	if [ $# -eq 2 ]; then dir=$1 i=$2; else dir=${VIRTUAL_YUBIKEYS_DIR:-} i=${1:-}; fi
	[ -n "$dir" ] && [ -n "$i" ] || die "usage: $0 touch [DIR] CARD"
	[ -f "$dir/card$i.pid" ] || die "no card $i running in $dir"
	kill -USR1 "$(cat "$dir/card$i.pid")"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
start) start "$@" ;;
stop) stop "$@" ;;
touch) touch_card "$@" ;;
pcscd)
	[ $# -eq 3 ] || usage
	run_pcscd "$@"
	;;
*) usage ;;
esac
