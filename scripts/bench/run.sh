#!/usr/bin/env bash
# scripts/bench/run.sh — the benchmarks of issue 8 (`make bench`): builds
# what they need, runs them, and prints a table of RATIOS against baselines
# measured in the same run, with the goals and pass/fail. No figure is an
# absolute time: the machine is shared and noisy, so every benchmark times
# its subject and its baseline back to back, alternating which goes first,
# and reports the median of the per-iteration ratios.
#
#   scripts/bench/run.sh            full run (10 to 20 minutes on 2 cores)
#   BENCH_QUICK=1 scripts/bench/run.sh
#                                   one iteration each: a smoke test, not
#                                   figures to record
#   BENCH_STRICT=1 ...              exit 1 when a goal is missed
#   BENCH_OUT=DIR ...               keep the raw `go test -bench` output
#
# Needs: go, cgo (the tool links libpcsclite), SoftHSM2 (benchmark 3),
# node and npm (benchmark 1 against tuf-js; installs the pinned tuf-js into
# scripts/bench/node_modules with `npm ci` when missing; without node that
# row is reported as skipped). Nothing here runs under `make test`.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
GO=${GO:-go}
quick=${BENCH_QUICK:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/tuf-ceremony-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
out=${BENCH_OUT:-$work/out}
mkdir -p "$out"
raw="$out/bench.txt"
: >"$raw"

say() { printf '%s\n' "$*" >&2; }

# --- the machine ---------------------------------------------------------
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN)
gover=$($GO env GOVERSION)
nodever=$(command -v node >/dev/null 2>&1 && node --version || echo "none")
load=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
{
	echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
	echo "cpu:     ${cpu:-unknown} × $cores"
	echo "go:      $gover ($($GO env GOOS)/$($GO env GOARCH))"
	echo "node:    $nodever"
	echo "load:    $load (1, 5, 15 min, before the run)"
} | tee "$out/machine.txt" >&2

# --- what the benchmarks need ----------------------------------------------
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	if [ ! -d scripts/bench/node_modules/tuf-js ]; then
		say "installing the pinned tuf-js (npm ci --prefix scripts/bench)"
		npm ci --prefix scripts/bench --no-audit --no-fund --ignore-scripts >&2
	fi
fi
say "building tuf-ceremony as make release does"
CGO_ENABLED=1 $GO build -trimpath -buildvcs=false -ldflags "-s -w -buildid=" -o "$work/tuf-ceremony" ./cmd/tuf-ceremony
for pkg in ceremony hsm/pkcs11 cmd/tuf-ceremony; do
	$GO test -c -o "$work/$(basename "$pkg").test" "./$pkg"
done
export TUF_BENCH_BIN="$work/tuf-ceremony"
export TUF_BENCH_CHAIN_DIR="$work/chain" # generated once, shared by 1a and 1b

# bench PKG NAME ITERATIONS: one benchmark, in its package's directory.
bench() {
	local pkg=$1 name=$2 n=$3
	[ -n "$quick" ] && n=1
	say "running $name (${n}x)"
	(cd "$pkg" && "$work/$(basename "$pkg").test" -test.run '^$' -test.bench "^$name\$" \
		-test.benchtime "${n}x" -test.count 1 -test.timeout 60m) | tee -a "$raw" | grep -E '^(Benchmark|---|FAIL|panic)' >&2 || true
}

bench ceremony BenchmarkChainVerify 7
bench ceremony BenchmarkChainVerifyTufJS 5
bench ceremony BenchmarkLargeTargetsSign 5
bench ceremony BenchmarkLargeTargetsVerify 5
bench ceremony BenchmarkLargeTargetsVerifyRepo 3
bench ceremony BenchmarkLargeTargetsPeakMemory 3
bench cmd/tuf-ceremony BenchmarkLargeTargetsCLIPeakMemory 1
bench hsm/pkcs11 BenchmarkBackendSign 20
bench cmd/tuf-ceremony BenchmarkSignOverhead 10
bench cmd/tuf-ceremony BenchmarkSignOverheadExec 10
bench cmd/tuf-ceremony BenchmarkStartup 10
bench cmd/tuf-ceremony BenchmarkTUIFirstFrame 5

# --- the table --------------------------------------------------------------
# metric NAME UNIT: the value the benchmark NAME reported for UNIT.
metric() {
	awk -v name="$1" -v unit="$2" '
		$1 ~ "^" name "(-[0-9]+)?$" { for (i = 3; i < NF; i += 2) if ($(i+1) == unit) v = $i }
		END { if (v != "") print v }' "$raw"
}

failed=0
row() { # ID WHAT VALUE GOAL(op number or "") NOTE
	local id=$1 what=$2 value=$3 goal=$4 note=$5 verdict
	if [ -z "$value" ]; then
		verdict="skipped"
		value="-"
	elif [ -z "$goal" ]; then
		verdict="(report)"
		value=$(printf '%.2f×' "$value")
	else
		if awk -v v="$value" -v g="$goal" 'BEGIN {
			op = substr(g, 1, 1); n = substr(g, 2) + 0
			exit !((op == "<" && v < n) || (op == ">" && v > n))
		}'; then verdict="pass"; else verdict="FAIL"; failed=1; fi
		value=$(printf '%.2f×' "$value")
	fi
	printf '%-3s %-52s %9s  %-7s %-9s %s\n' "$id" "$what" "$value" "${goal:--}" "$verdict" "$note"
}
ms() { awk -v v="${1:-}" 'BEGIN { if (v == "") print "-"; else printf "%.1f ms", v / 1e6 }'; }
num() { awk -v v="${1:-}" -v f="$2" 'BEGIN { if (v == "") print "-"; else printf f, v }'; }

{
	echo
	echo "Ratios against baselines measured in the same run (medians of paired iterations)."
	echo "Goals: ≤ / ≥ written as < / >."
	echo
	printf '%-3s %-52s %9s  %-7s %-9s %s\n' "#" "subject / baseline" "ratio" "goal" "result" "detail"
	row 1a "chain 1000 roots: Verify / go-tuf trustedmetadata" "$(metric BenchmarkChainVerify x)" "<1.2" \
		"Verify $(ms "$(metric BenchmarkChainVerify ns/op)"), go-tuf $(ms "$(metric BenchmarkChainVerify gotuf-ns/op)"), cpu $(num "$(metric BenchmarkChainVerify cpu-x)" '%.2f×')"
	row 1b "chain 1000 roots: tuf-js store / Verify (speed-up)" "$(metric BenchmarkChainVerifyTufJS x)" ">3" \
		"tuf-js $(ms "$(metric BenchmarkChainVerifyTufJS tufjs-ns/op)"), cpu $(num "$(metric BenchmarkChainVerifyTufJS cpu-x)" '%.2f×'), tuf-js Updater $(num "$(metric BenchmarkChainVerifyTufJS updater-x)" '%.2f×'), go-tuf vs tuf-js $(num "$(metric BenchmarkChainVerifyTufJS gotuf-vs-tufjs)" '%.2f×')"
	row 2a "targets 100k: ceremony sign / go-tuf Metadata.Sign" "$(metric BenchmarkLargeTargetsSign x)" "<1.2" \
		"file $(num "$(metric BenchmarkLargeTargetsSign file-bytes)" '%.0f') bytes, ceremony $(ms "$(metric BenchmarkLargeTargetsSign ns/op)")"
	row 2b "targets 100k: ceremony tally / go-tuf VerifyDelegate" "$(metric BenchmarkLargeTargetsVerify x)" "<1.2" \
		"ceremony $(ms "$(metric BenchmarkLargeTargetsVerify ns/op)")"
	row 2e "targets 100k: Verify of the repository / go-tuf" "$(metric BenchmarkLargeTargetsVerifyRepo x)" "<1.2" \
		"Verify $(ms "$(metric BenchmarkLargeTargetsVerifyRepo ns/op)"), go-tuf $(ms "$(metric BenchmarkLargeTargetsVerifyRepo gotuf-ns/op)")"
	row 2c "targets 100k: peak RSS / file size" "$(metric BenchmarkLargeTargetsPeakMemory x)" "<4" \
		"sign $(num "$(metric BenchmarkLargeTargetsPeakMemory sign-x)" '%.2f×'), verify $(num "$(metric BenchmarkLargeTargetsPeakMemory verify-x)" '%.2f×'), go-tuf $(num "$(metric BenchmarkLargeTargetsPeakMemory gotuf-x)" '%.2f×')"
	row 2d "targets 100k: CLI sign and verify peak RSS / size" "$(metric BenchmarkLargeTargetsCLIPeakMemory x)" "<4" \
		"sign $(num "$(metric BenchmarkLargeTargetsCLIPeakMemory sign-x)" '%.2f×'), publish $(num "$(metric BenchmarkLargeTargetsCLIPeakMemory publish-x)" '%.2f×'), verify $(num "$(metric BenchmarkLargeTargetsCLIPeakMemory verify-x)" '%.2f×')"
	row 3a "5 signatures: tuf-ceremony sign (in process) / raw" "$(metric BenchmarkSignOverhead x)" "" \
		"overhead $(num "$(metric BenchmarkSignOverhead overhead-ms/sig)" '%.1f') ms/signature"
	row 3b "5 signatures: tuf-ceremony sign (exec) / raw" "$(metric BenchmarkSignOverheadExec x)" "" \
		"overhead $(num "$(metric BenchmarkSignOverheadExec overhead-ms/sig)" '%.1f') ms/signature"
	row 3c "5 signatures: hsm/pkcs11 backend / raw" "$(metric BenchmarkBackendSign x)" "" \
		"overhead $(num "$(metric BenchmarkBackendSign overhead-us/sig)" '%.0f') µs/signature"
	row 4a "start-up: tuf-ceremony --version / trivial Go" "$(metric BenchmarkStartup x)" "" \
		"$(num "$(metric BenchmarkStartup tool-us/run)" '%.0f') µs vs $(num "$(metric BenchmarkStartup trivial-us/run)" '%.0f') µs (/bin/true $(num "$(metric BenchmarkStartup true-us/run)" '%.0f') µs)"
	row 4b "TUI first frame / trivial Go" "$(metric BenchmarkTUIFirstFrame x)" "" \
		"$(num "$(metric BenchmarkTUIFirstFrame frame-us/run)" '%.0f') µs, $(num "$(metric BenchmarkTUIFirstFrame version-x)" '%.2f×') of --version"
	echo
	[ -n "$quick" ] && echo "BENCH_QUICK: one iteration each; do not record these figures."
	if [ "$failed" = 1 ]; then echo "Some goals are missed; see BENCHMARKS.md."; fi
} | tee "$out/table.txt"

if [ -n "${BENCH_OUT:-}" ]; then
	say "raw output in $out"
fi
if [ "$failed" = 1 ] && [ -n "${BENCH_STRICT:-}" ]; then
	exit 1
fi
