#!/usr/bin/env python3
"""Known-answer vectors for piivault's at-rest formats, computed with the Python
`cryptography` package (an implementation independent of the Rust code under test).
Run: python3 generate.py > vectors.json"""
import hashlib, hmac, json
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

def h(b): return b.hex()

key = bytes(range(32))
kek = bytes(range(100, 132))
index_key = bytes([0x42] * 32)
row = "0193a5b0-7e1c-7000-8000-00000000abcd"
nonce = bytes.fromhex("000102030405060708090a0b")

fields = []
for table, column, value in [("users", "email", "jack.sparrow@piratebay.com"),
                              ("users", "first_name", "Jack"),
                              ("users", "address", "Ngong Rd 5, Nairobi — «Ω»"),
                              ("users", "national_id", "")]:
    aad = f"piivault/v1/{table}.{column}/{row}".encode()
    sealed = b"\x01" + nonce + AESGCM(key).encrypt(nonce, value.encode(), aad)
    fields.append({"table": table, "column": column, "row_id": row, "value": value, "sealed": h(sealed)})

dek = bytes([0x77] * 32)
user = row
wraps = []
for version in [1, 7, 4294967295]:
    aad = f"piivault/v1/dek/{user}".encode()
    wrapped = b"\x01" + version.to_bytes(4, "big") + nonce + AESGCM(kek).encrypt(nonce, dek, aad)
    wraps.append({"kek_version": version, "user_id": user, "data_key": h(dek), "wrapped": h(wrapped)})

indexes = []
for column, value in [("email", "jack.sparrow@piratebay.com"), ("phone", "+254712345678"), ("national_id", "12345678")]:
    indexes.append({"column": column, "normalized": value,
                    "index": hmac.new(index_key, f"{column}:{value}".encode(), hashlib.sha256).hexdigest()})

# Sealed files (STREAM BE32 over AES-256-GCM, 64 KiB segments, see src/files/stream.rs).
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

def file_key(dek, salt, file_id):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
                info=f"piivault/v1/file/{file_id}".encode()).derive(dek)

def seal_file(dek, salt, prefix, file_id, plaintext):
    k = AESGCM(file_key(dek, salt, file_id))
    header = b"\x01" + salt + prefix
    segs = [plaintext[i:i + 65536] for i in range(0, len(plaintext), 65536)] or [b""]
    out = header
    for i, seg in enumerate(segs):
        n = prefix + i.to_bytes(4, "big") + bytes([1 if i == len(segs) - 1 else 0])
        out += k.encrypt(n, seg, header)
    return out

file_salt = bytes([0x5a] * 32)
file_prefix = bytes.fromhex("a0a1a2a3a4a5a6")
file_id = "0193a5b0-7e1c-7000-8000-0000000f11e5"
sealed_files = []
for size in [0, 5, 65536, 65536 * 2 + 3]:
    plaintext = bytes(i % 251 for i in range(size))
    sealed = seal_file(key, file_salt, file_prefix, file_id, plaintext)
    case = {"size": size, "plaintext": "i % 251 for i in 0..size", "sealed_len": len(sealed),
            "sealed_sha256": hashlib.sha256(sealed).hexdigest()}
    if size <= 5:
        case["sealed"] = h(sealed)
    sealed_files.append(case)

print(json.dumps({"data_key": h(key), "nonce": h(nonce), "sealed_fields": fields,
                  "master_key": h(kek), "wrapped_data_keys": wraps,
                  "blind_index_key": h(index_key), "blind_indexes": indexes,
                  "file_key": {"salt": h(file_salt), "file_id": file_id,
                               "key": h(file_key(key, file_salt, file_id))},
                  "sealed_files": {"salt": h(file_salt), "nonce_prefix": h(file_prefix),
                                   "file_id": file_id, "cases": sealed_files}},
                 indent=2, ensure_ascii=False))
