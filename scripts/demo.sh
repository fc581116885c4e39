#!/usr/bin/env bash
# demo.sh — a complete rehearsal of a TUF key ceremony on throw-away SoftHSM
# tokens, in a temporary directory removed at the end (KEEP=1 keeps it).
# Run by `make demo`.
#
# Root is held by alice, bob and carol (any 2 of 3 sign), targets by dave;
# snapshot and timestamp use online keys whose public halves are in the plan.
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
say() { printf '%s\n' "$*"; }
run() { printf '\n$ %s\n' "$*"; "$@"; }

module=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
token() { echo "pkcs11:token=$1?module-path=$module&pin-source=file:$work/hsm/$1.pin"; }

step "1. Each custodian brings a token (here: throw-away SoftHSM tokens)"
eval "$("$root/scripts/softhsm-tokens.sh" "$work/hsm" alice bob carol dave)"
say "SOFTHSM2_CONF=$SOFTHSM2_CONF; the PINs are in $work/hsm/*.pin"
run "$bin" tokens --module "$module"

step "2. The plan: who holds which role, thresholds, expiries"
cp "$root/testdata/plans/online-snapshot.pem" "$root/testdata/plans/online-timestamp.pem" "$work/"
cat >"$work/ceremony.yaml" <<PLAN
name: demo rehearsal
roles:
  root:
    threshold: 2
    expires: 365d
    keys:
      - {custodian: alice, token: "$(token alice)"}
      - {custodian: bob, token: "$(token bob)", algorithm: ed25519}
      - {custodian: carol, token: "$(token carol)", algorithm: ecdsa-p384}
  targets:
    threshold: 1
    expires: 26w
    keys:
      - {custodian: dave, token: "$(token dave)"}
  snapshot:
    threshold: 1
    expires: 7d
    keys:
      - {public_key: online-snapshot.pem, custodian: online}
  timestamp:
    threshold: 1
    expires: 1d
    keys:
      - {public_key: online-timestamp.pem, custodian: online}
PLAN
sed "s|pin-source=file:[^\"]*|pin-source=file:…|" "$work/ceremony.yaml"

step "3. init: keys are generated on each token, root and targets v1 are staged"
run "$bin" init --media "$media" --plan "$work/ceremony.yaml" --yes

step "4. Nobody has signed yet"
run "$bin" status --media "$media"

step "5. alice signs root: she checks the changes and reads the fingerprint aloud"
run "$bin" sign --media "$media" --token "$(token alice)" --yes

step "6. carol signs root (2 of 3 reached); dave signs targets"
run "$bin" sign --media "$media" --token "$(token carol)" --yes 2>/dev/null
run "$bin" sign --media "$media" --token "$(token dave)" --yes 2>/dev/null
run "$bin" status --media "$media"

step "7. publish: only once every rule a TUF client applies holds"
run "$bin" publish --media "$media"

step "8. verify the medium as a TUF client would"
run "$bin" verify "$media"

step "9. A later ceremony: dave adds a release to targets"
echo "release 1.0" >"$work/app-1.0.txt"
run "$bin" propose targets --media "$media" --add-target "$work/app-1.0.txt"
run "$bin" sign --media "$media" --token "$(token dave)" --yes 2>/dev/null
run "$bin" publish --media "$media"
run "$bin" verify "$media"

step "10. The ceremony record, to print and sign"
run "$bin" report --media "$media" --output "$work/ceremony-record.md"
sed -n '1,25p' "$work/ceremony-record.md"
say "…"

step "The medium"
(cd "$media" && find . -type f ! -name '.*' | sort)
say
say "metadata/ can be served to TUF clients once the online snapshot and"
say "timestamp roles are added. Every private key stayed on its token."
