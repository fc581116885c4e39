#!/usr/bin/env bash
# bundle.sh DIR — an offline bundle for the air-gapped ceremony machine:
#   DIR/tuf-ceremony            the reproducible release binary (make release)
#   DIR/docs/                   man pages and shell completions
#   DIR/debs/*.deb              the Debian packages the ceremony uses, fetched
#                               with apt-get download (run on a networked
#                               machine of the same Debian release)
#   DIR/install.sh              installs the packages and the binary, offline
#   DIR/SHA256SUMS              of every file above
# Check it before carrying it in: see README.md, "Offline bundle".
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:?usage: bundle.sh DIR}
bin="$root/bin/tuf-ceremony"
[ -x "$bin" ] || { echo "error: $bin missing" >&2; echo "hint: make release" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "error: apt-get not found: the bundle's packages are Debian's" >&2; exit 1; }

# The packages of SPEC.md and the dependencies a minimal Debian lacks.
packages=(softhsm2 libsofthsm2 softhsm2-common pcscd libccid libpcsclite1 vsmartcard-vpcd libqrencode4 opensc opensc-pkcs11)

rm -rf "$out"
mkdir -p "$out/debs"
cp "$bin" "$out/tuf-ceremony"
if [ -d "$root/dist/docs" ]; then
	cp -r "$root/dist/docs" "$out/docs"
fi
(cd "$out/debs" && apt-get download "${packages[@]}" >/dev/null)

cat >"$out/install.sh" <<'INSTALL'
#!/bin/sh
# Installs tuf-ceremony and the packages it uses, with no network.
# Run as root from the bundle's directory, after checking SHA256SUMS.
set -eu
cd "$(dirname "$0")"
sha256sum --check --strict --quiet SHA256SUMS
dpkg -i debs/*.deb
install -m 0755 tuf-ceremony /usr/local/bin/tuf-ceremony
if [ -d docs/man1 ]; then
	mkdir -p /usr/local/share/man/man1
	cp docs/man1/*.1 /usr/local/share/man/man1/
fi
if [ -f docs/completion/tuf-ceremony.bash ]; then
	mkdir -p /usr/local/share/bash-completion/completions
	cp docs/completion/tuf-ceremony.bash /usr/local/share/bash-completion/completions/tuf-ceremony
fi
echo "installed: $(tuf-ceremony version)"
INSTALL
chmod +x "$out/install.sh"

(cd "$out" && find . -type f ! -name SHA256SUMS | LC_ALL=C sort | sed 's|^\./||' | xargs sha256sum >SHA256SUMS)
echo "bundle: $out ($(ls "$out/debs" | wc -l) packages)"
echo "binary: $(cd "$out" && sha256sum tuf-ceremony)"
