#!/usr/bin/env bash
# demo.sh — a rehearsal on throw-away SoftHSM tokens, in a temporary
# directory that is removed at the end (KEEP=1 keeps it). Run by `make demo`.
#
# So far the rehearsal covers the first part of a ceremony: the custodians'
# tokens are listed and each custodian generates a key on their token,
# recorded on the "removable medium" (a workspace directory).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin/tuf-ceremony"
[ -x "$bin" ] || { echo "error: $bin missing; run make build" >&2; exit 1; }

work=$(mktemp -d -t tuf-ceremony-demo.XXXXXX)
if [ "${KEEP:-0}" = 1 ]; then
	trap 'echo; echo "kept: $work"' EXIT
else
	trap 'rm -rf "$work"' EXIT
fi
media="$work/media"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "1. Throw-away SoftHSM tokens for three custodians"
eval "$("$root/scripts/softhsm-tokens.sh" "$work/hsm" alice bob carol)"
echo "SOFTHSM2_CONF=$SOFTHSM2_CONF (PINs in $work/hsm/*.pin)"

step "2. The tokens present"
run "$bin" tokens

step "3. Each custodian generates a key on their own token"
module=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
for who in alice:ecdsa-p256 bob:ed25519 carol:ecdsa-p384; do
	name=${who%%:*} alg=${who#*:}
	run "$bin" keygen --media "$media" --custodian "$name" --algorithm "$alg" \
		--token "pkcs11:token=$name;object=root-$name?module-path=$module&pin-source=file:$work/hsm/$name.pin"
done

step "4. The keys, now on the tokens"
run "$bin" tokens --module "$module"

step "5. The removable medium"
(cd "$media" && find . -type f ! -name '.*' | sort)
echo
echo "transcript.jsonl (hash-chained, append-only):"
cut -c1-150 "$media/transcript.jsonl" | sed 's/$/…/'
echo
echo "SHA256SUMS checks:"
(cd "$media" && sha256sum -c SHA256SUMS)

step "Rehearsal done"
echo "Every private key was generated on its token and cannot leave it;"
echo "keys/<keyid>.json records the public key and the token's evidence."
