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

print(json.dumps({"data_key": h(key), "nonce": h(nonce), "sealed_fields": fields,
                  "master_key": h(kek), "wrapped_data_keys": wraps,
                  "blind_index_key": h(index_key), "blind_indexes": indexes}, indent=2, ensure_ascii=False))
