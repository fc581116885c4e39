#!/usr/bin/env bash
# release-check.sh — shows that `make release` is reproducible: two clean
# clones of HEAD at different paths build the same bytes.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d -t tuf-ceremony-release.XXXXXX)
trap 'rm -rf "$work"' EXIT
sums=()
for d in "$work/a" "$work/somewhere/else/b"; do
	mkdir -p "$(dirname "$d")"
	git clone -q "$root" "$d"
	sums+=("$(cd "$d" && make -s release VERSION="$(git -C "$root" describe --tags --always)" | awk '{print $1}')")
done
echo "clone 1: ${sums[0]}"
echo "clone 2: ${sums[1]}"
if [ "${sums[0]}" != "${sums[1]}" ]; then
	echo "error: the two builds differ" >&2
	exit 1
fi
echo "reproducible"
