#!/usr/bin/env python3
"""sslib-verify.py: check every signature of TUF metadata files with
securesystemslib (Debian's python3-securesystemslib, 0.26), the signature
library of python-tuf: an independent check of tuf-ceremony's signatures per
key scheme (SPEC invariant 7).

    python3 sslib-verify.py FILE... [--keys FILE]...

Keys are taken from every file named (a root's keys, a targets file's
delegation keys), so give a root history together (N.root.json is signed
by keys of N-1.root.json too) and a targets file with the roots. Each
signature of each FILE is checked against the key of its key ID: role
membership and thresholds are the clients' business, not this script's.
--keys adds a file whose keys are used but whose signatures are not checked.

Prints one JSON object on stdout:
    {"library": "securesystemslib 0.26.0",
     "files": [{"file": "1.root.json", "error": "",
                "signatures": [{"keyid": "…", "keytype": "ecdsa",
                                "scheme": "ecdsa-sha2-nistp256",
                                "status": "valid", "detail": ""}]}]}
status is one of: valid, invalid (the key does not verify the signature),
unsupported (securesystemslib cannot read the key or does not know the
scheme), no-key (no file defines the key ID), empty (a signature whose "sig" is
"", which tuf-on-ci writes for a signer who has not signed yet; it counts for
nothing).
Exit status: 0 when no signature is invalid and every file parsed; 1
otherwise; 2 on usage or installation problems.
"""

import binascii
import json
import sys

try:
    import securesystemslib
    from securesystemslib import exceptions, formats, keys
except ImportError as e:  # pragma: no cover
    sys.stderr.write(
        "error: securesystemslib is not installed for %s (%s)\n"
        "hint: apt-get install python3-securesystemslib python3-cryptography python3-nacl\n"
        % (sys.executable, e)
    )
    sys.exit(2)


def usage(msg):
    sys.stderr.write("error: %s\nusage: sslib-verify.py FILE... [--keys FILE]...\n" % msg)
    sys.exit(2)


def load(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def keys_of(md):
    """The keys a metadata document defines: key ID -> key dict."""
    signed = md.get("signed") if isinstance(md, dict) else None
    if not isinstance(signed, dict):
        return {}
    found = {}
    if isinstance(signed.get("keys"), dict):
        found.update(signed["keys"])
    deleg = signed.get("delegations")
    if isinstance(deleg, dict) and isinstance(deleg.get("keys"), dict):
        found.update(deleg["keys"])
    return {k: v for k, v in found.items() if isinstance(v, dict)}


def check(candidates, sig, data):
    """Returns (status, detail, keytype, scheme) for one signature."""
    keyid = sig.get("keyid")
    if sig.get("sig") == "":
        return "empty", "an empty placeholder (tuf-on-ci writes one for a signer who has not signed)", "", ""
    if not candidates:
        return "no-key", "no file defines key %s" % keyid, "", ""
    unsupported = []
    invalid = []
    for key in candidates:
        keytype = key.get("keytype", "")
        scheme = key.get("scheme", "")
        key_dict = {
            "keyid": keyid,
            "keytype": keytype,
            "scheme": scheme,
            "keyval": {"public": (key.get("keyval") or {}).get("public", "")},
        }
        try:
            ok = keys.verify_signature(key_dict, {"keyid": keyid, "sig": sig.get("sig", "")}, data)
        except (exceptions.UnsupportedAlgorithmError, exceptions.UnsupportedLibraryError) as e:
            unsupported.append((keytype, scheme, "%s: %s" % (type(e).__name__, e)))
            continue
        except exceptions.FormatError as e:
            # A key securesystemslib cannot read (hex ECDSA keys of go-tuf
            # v0.x, unknown key types) or a malformed signature.
            if formats.SIGNATURE_SCHEMA.matches({"keyid": keyid, "sig": sig.get("sig", "")}):
                unsupported.append((keytype, scheme, "FormatError: %s" % e))
            else:
                invalid.append((keytype, scheme, "malformed signature: %s" % e))
            continue
        except (binascii.Error, ValueError, TypeError) as e:
            invalid.append((keytype, scheme, "%s: %s" % (type(e).__name__, e)))
            continue
        if ok:
            return "valid", "", keytype, scheme
        invalid.append((keytype, scheme, "signature does not verify"))
    if invalid:
        keytype, scheme, detail = invalid[0]
        return "invalid", detail, keytype, scheme
    keytype, scheme, detail = unsupported[0]
    return "unsupported", detail[:300], keytype, scheme


def main(argv):
    files, key_files = [], []
    i = 0
    while i < len(argv):
        if argv[i] == "--keys":
            if i + 1 >= len(argv):
                usage("--keys needs a file")
            key_files.append(argv[i + 1])
            i += 2
            continue
        if argv[i].startswith("-"):
            usage("unknown option %s" % argv[i])
        files.append(argv[i])
        i += 1
    if not files:
        usage("no file to check")

    docs = {}
    errors = {}
    for path in files + key_files:
        if path in docs or path in errors:
            continue
        try:
            docs[path] = load(path)
        except (OSError, ValueError) as e:
            errors[path] = "%s: %s" % (type(e).__name__, e)

    by_id = {}
    for path in files + key_files:
        for keyid, key in keys_of(docs.get(path)).items():
            known = by_id.setdefault(keyid, [])
            if key not in known:
                known.append(key)

    out = {"library": "securesystemslib %s" % securesystemslib.__version__, "files": []}
    bad = False
    for path in files:
        result = {"file": path, "error": errors.get(path, ""), "signatures": []}
        out["files"].append(result)
        md = docs.get(path)
        if md is None:
            bad = True
            continue
        if not isinstance(md, dict) or not isinstance(md.get("signed"), dict) or not isinstance(md.get("signatures"), list):
            result["error"] = "not TUF metadata: no signed object or signatures list"
            bad = True
            continue
        try:
            data = formats.encode_canonical(md["signed"]).encode("utf-8")
        except Exception as e:  # securesystemslib refuses floats and the like
            result["error"] = "canonical JSON: %s: %s" % (type(e).__name__, e)
            bad = True
            continue
        for sig in md["signatures"]:
            if not isinstance(sig, dict):
                result["signatures"].append({"keyid": "", "keytype": "", "scheme": "", "status": "invalid", "detail": "signature is not an object"})
                bad = True
                continue
            status, detail, keytype, scheme = check(by_id.get(sig.get("keyid"), []), sig, data)
            result["signatures"].append(
                {"keyid": sig.get("keyid", ""), "keytype": keytype, "scheme": scheme, "status": status, "detail": detail}
            )
            if status == "invalid":
                bad = True
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
