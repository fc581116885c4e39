#!/usr/bin/env bash
# demo.sh — a complete rehearsal of a TUF key ceremony on throw-away SoftHSM
# tokens, in a temporary directory removed at the end (KEEP=1 keeps it).
# Run by `make demo`.
#
# Root is held by alice, bob and carol (any 2 of 3 sign), targets by dave;
# snapshot and timestamp use online keys whose public halves are in the plan.
# bob's key is on a virtual YubiKey (cmd/virtual-yubikey, through a private
# pcscd), the others on SoftHSM tokens.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/bin/tuf-ceremony"
[ -x "$bin" ] || { echo "error: $bin missing; run make build" >&2; exit 1; }

work=$(mktemp -d -t tuf-ceremony-demo.XXXXXX)
cleanup() {
	"$root/scripts/virtual-yubikeys.sh" stop "$work/vyk" >/dev/null 2>&1 || true
	if [ "${KEEP:-0}" = 1 ]; then
		echo
		echo "kept: $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
media="$work/media"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
say() { printf '%s\n' "$*"; }
run() { printf '\n$ %s\n' "$*"; "$@"; }

module=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1)
token() { echo "pkcs11:token=$1?module-path=$module&pin-source=file:$work/hsm/$1.pin"; }

step "1. Each custodian brings a token (here: throw-away SoftHSM tokens and a virtual YubiKey)"
eval "$("$root/scripts/softhsm-tokens.sh" "$work/hsm" alice carol dave)"
say "SOFTHSM2_CONF=$SOFTHSM2_CONF; the PINs are in $work/hsm/*.pin"
eval "$("$root/scripts/virtual-yubikeys.sh" start -n 1 -d "$work/vyk" 2>/dev/null)"
yk_serial=$(cut -f2 "$work/vyk/cards" | head -1)
printf '24681357\n' >"$work/hsm/bob.pin"
chmod 600 "$work/hsm/bob.pin"
say "bob's virtual YubiKey: serial $yk_serial (its attestation root, NOT Yubico's: $VIRTUAL_YUBIKEYS_CA)"
run "$bin" tokens --module "$module"

step "1b. bob sets up his new YubiKey: PIN, PUK, a random PIN-protected management key"
run "$bin" token setup --token "yubikey:serial=$yk_serial" --new-pin 24681357 --new-puk 97531864 --yes

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
      - {custodian: bob, token: "yubikey:serial=$yk_serial?pin-source=file:$work/hsm/bob.pin", algorithm: ecdsa-p384}
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
run "$bin" init --media "$media" --plan "$work/ceremony.yaml" --yes --attestation-roots "$VIRTUAL_YUBIKEYS_CA"

step "4. Nobody has signed yet"
run "$bin" status --media "$media"

step "5. alice signs root: she checks the changes and reads the fingerprint aloud"
run "$bin" sign --media "$media" --token "$(token alice)" --yes

step "6. bob signs root with his YubiKey (2 of 3 reached); dave signs targets"
run "$bin" sign --media "$media" --token "yubikey:serial=$yk_serial?pin-source=file:$work/hsm/bob.pin" --yes 2>&1 | grep -v '^  \|^[~+-] \|^$' || true
run "$bin" sign --media "$media" --token "$(token dave)" --yes 2>/dev/null
run "$bin" status --media "$media"

step "7. publish: only once every rule a TUF client applies holds"
run "$bin" publish --media "$media"

step "8. verify the medium as a TUF client would (and the keys' evidence)"
run "$bin" verify "$media" --attestation-roots "$VIRTUAL_YUBIKEYS_CA"

step "9. A later ceremony: dave adds a release to targets"
echo "release 1.0" >"$work/app-1.0.txt"
run "$bin" propose targets --media "$media" --add-target "$work/app-1.0.txt"
run "$bin" sign --media "$media" --token "$(token dave)" --yes 2>/dev/null
run "$bin" publish --media "$media"
run "$bin" verify "$media" --attestation-roots "$VIRTUAL_YUBIKEYS_CA" | tail -3

step "10. The ceremony record, to print and sign"
run "$bin" report --media "$media" --output "$work/ceremony-record.md" --attestation-roots "$VIRTUAL_YUBIKEYS_CA"
sed -n '1,25p' "$work/ceremony-record.md"
say "…"

step "The medium"
(cd "$media" && find . -type f ! -name '.*' | sort)
say
say "metadata/ can be served to TUF clients once the online snapshot and"
say "timestamp roles are added. Every private key stayed on its token."
