#!/usr/bin/env bash
# Known-answer vectors for src/pdf/security.rs, made by qpdf (an independent
# implementation of ISO 32000-2 §7.6.4, security handler revision 6): qpdf encrypts an
# empty PDF with AES-256, and this script records the file key qpdf chose and the
# /O /U /OE /UE /Perms values it wrote. The Rust test recomputes every value from the
# passwords, the file key and the salts and random bytes read back from them.
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
qpdf --empty "$work/empty.pdf"
python3 - "$work" <<'PY'
import json, re, subprocess, sys
work = sys.argv[1]
cases = []
for user, owner in [("user password", "owner password"), ("Zoë-ÅŞ", "ωμέγα"), ("", "owner only")]:
    out = f"{work}/enc.pdf"
    subprocess.run(["qpdf", "--static-id", "--encrypt", user, owner, "256", "--print=full",
                    "--modify=none", "--extract=y", "--", f"{work}/empty.pdf", out], check=True)
    info = subprocess.run(["qpdf", "--show-encryption-key", "--show-encryption",
                           f"--password={user}", out], capture_output=True, text=True, check=True).stdout
    key = re.search(r"Encryption key = ([0-9a-f]+)", info).group(1)
    p = int(re.search(r"P = (-?\d+)", info).group(1))
    data = open(out, "rb").read()
    def value(name):
        m = re.search(rb"/" + name + rb"\s*<([0-9a-fA-F]+)>", data)
        if m:
            return m.group(1).decode().lower()
        raise SystemExit(f"{name} is not a hex string in qpdf's output")
    cases.append({"user_password": user, "owner_password": owner, "file_key": key, "p": p,
                  "encrypt_metadata": True,
                  "o": value(b"O"), "u": value(b"U"), "oe": value(b"OE"), "ue": value(b"UE"),
                  "perms": value(b"Perms")})
json.dump({"generator": subprocess.run(["qpdf", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
           "cases": cases}, open("r6.json", "w"), indent=1, ensure_ascii=False)
PY
