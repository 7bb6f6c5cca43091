#!/usr/bin/env python3
"""Known-answer vectors for piivault's at-rest formats (v1, still read, and v2, written),
computed with the Python
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

# Format v2 (src/crypto/field.rs, data_key.rs): fields sealed under a subkey derived
# from the data key, the format byte (and for keys the header) in the associated data,
# and a transaction's clear columns bound.
def field_key(dek):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"piivault/v2/subkey/field").derive(dek)

def aad_v2(table, column, row_id, bound):
    aad = b"\x02" + f"piivault/v2/{table}.{column}/{row_id}".encode()
    for name, value in bound:
        aad += b"\n" + name.encode() + b"=" + value.encode()
    return aad

def seal_v2(dek, table, column, row_id, bound, value):
    return b"\x02" + nonce + AESGCM(field_key(dek)).encrypt(nonce, value.encode(),
                                                            aad_v2(table, column, row_id, bound))

tx = "0193a5b0-7e1c-7000-8000-0000000000a1"
tx_bound = [("occurred_at", "2026-11-01T06:30:00.000000Z"), ("currency", "KES")]
fields_v2 = []
for table, column, row_id, bound, value in [
        ("users", "email", row, [], "jack.sparrow@piratebay.com"),
        ("users", "national_id", row, [], ""),
        ("transactions", "amount", tx, tx_bound, "-125000"),
        ("transactions", "details", tx, tx_bound, "Paid to Mama Mboga — «Ω»")]:
    fields_v2.append({"table": table, "column": column, "row_id": row_id,
                      "bound": [list(pair) for pair in bound], "value": value,
                      "sealed": h(seal_v2(key, table, column, row_id, bound, value))})

def wrap_v2(kek, version, user, dek):
    header = b"\x02" + version.to_bytes(4, "big")
    aad = header + f"piivault/v2/dek/{user}".encode()
    return header + nonce + AESGCM(kek).encrypt(nonce, dek, aad)

wraps_v2 = [{"kek_version": v, "user_id": user, "data_key": h(dek), "wrapped": h(wrap_v2(kek, v, user, dek))}
            for v in [1, 7, 4294967295]]

# Failure cases: each must be refused (as `error`) by the Rust code.
amount = bytes.fromhex(fields_v2[2]["sealed"])
wrapped7 = bytes.fromhex(wraps_v2[1]["wrapped"])
fail = [
    {"name": "fail_field_v2_format_byte_set_to_v1", "kind": "field", "case": 2,
     "sealed": h(b"\x01" + amount[1:]), "error": "unauthentic"},
    {"name": "fail_field_v2_format_byte_unknown", "kind": "field", "case": 2,
     "sealed": h(b"\x03" + amount[1:]), "error": "malformed"},
    {"name": "fail_field_v2_occurred_at_moved", "kind": "field", "case": 2,
     "bound": [["occurred_at", "2026-12-01T06:30:00.000000Z"], ["currency", "KES"]],
     "sealed": h(amount), "error": "unauthentic"},
    {"name": "fail_field_v2_currency_changed", "kind": "field", "case": 2,
     "bound": [["occurred_at", "2026-11-01T06:30:00.000000Z"], ["currency", "USD"]],
     "sealed": h(amount), "error": "unauthentic"},
    {"name": "fail_field_v2_bound_columns_dropped", "kind": "field", "case": 2, "bound": [],
     "sealed": h(amount), "error": "unauthentic"},
    {"name": "fail_field_v2_sealed_under_the_data_key_itself", "kind": "field", "case": 0,
     "sealed": h(b"\x02" + nonce + AESGCM(key).encrypt(nonce, b"jack.sparrow@piratebay.com",
                                                         aad_v2("users", "email", row, []))),
     "error": "unauthentic"},
    # The same key under versions 1 and 7: without the header in the AAD this would open.
    {"name": "fail_wrapped_v2_kek_version_relabelled", "kind": "wrapped", "kek_version": 1,
     "wrapped": h(b"\x02" + (1).to_bytes(4, "big") + wrapped7[5:]), "error": "unauthentic"},
    {"name": "fail_wrapped_v2_format_byte_set_to_v1", "kind": "wrapped", "kek_version": 7,
     "wrapped": h(b"\x01" + wrapped7[1:]), "error": "unauthentic"},
    {"name": "fail_wrapped_v2_format_byte_unknown", "kind": "wrapped", "kek_version": 7,
     "wrapped": h(b"\x03" + wrapped7[1:]), "error": "malformed"},
]

print(json.dumps({"data_key": h(key), "nonce": h(nonce), "sealed_fields": fields,
                  "master_key": h(kek), "wrapped_data_keys": wraps,
                  "blind_index_key": h(index_key), "blind_indexes": indexes,
                  "file_key": {"salt": h(file_salt), "file_id": file_id,
                               "key": h(file_key(key, file_salt, file_id))},
                  "sealed_files": {"salt": h(file_salt), "nonce_prefix": h(file_prefix),
                                   "file_id": file_id, "cases": sealed_files},
                  "field_key": h(field_key(key)), "sealed_fields_v2": fields_v2,
                  "wrapped_data_keys_v2": wraps_v2, "fail_cases": fail},
                 indent=2, ensure_ascii=False))
