"""Writes the seed inputs of fuzz/corpus/ (run once; libFuzzer adds what it finds).
JWEs are made with jwcrypto, an independent JOSE implementation, to the fuzzers'
P-256 key, derived as src/fuzz_targets.rs derives it (private scalar = SHA-256 of a
fixed label; a key that protects nothing), and to a throw-away RSA key (the fuzzers
make their own, so RSA seeds exercise the profile and key look-up, not decryption).
Usage: python3 fuzz/make_seeds.py"""
import base64
import hashlib
import json
import os
import struct
import uuid

from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwe, jwk

HERE = os.path.dirname(os.path.abspath(__file__))


def seed(target, content):
    data = content if isinstance(content, bytes) else content.encode()
    directory = os.path.join(HERE, "corpus", target)
    os.makedirs(directory, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(directory, name), "wb") as file:
        file.write(data)


def fuzz_p256():
    """The key src/fuzz_targets.rs makes: scalar = SHA-256("piivault fuzz p256")."""
    scalar = int.from_bytes(hashlib.sha256(b"piivault fuzz p256").digest(), "big")
    return jwk.JWK.from_pyca(ec.derive_private_key(scalar, ec.SECP256R1()))


user = {"first_name": "Jack", "last_name": "Sparrow", "email": "jack@example.com",
        "phone": "+254712345678", "national_id": "12345678",
        "date_of_birth": "1990-04-01", "address": "Kenyatta Ave 1"}
transaction = {"reference": "QFT3XYZ12A", "occurred_at": "2026-11-01T09:30:00+03:00",
               "details": "Paid to Mama Mboga", "amount": "-1250.00", "currency": "KES"}
batch = {"transactions": [transaction, dict(transaction, reference="QFT3XYZ12B")]}
rsa, p256 = jwk.JWK.generate(kty="RSA", size=2048), fuzz_p256()
for payload in (user, transaction, batch):
    plaintext = json.dumps(payload)
    for alg, recipient in (("RSA-OAEP-256", rsa), ("RSA-OAEP", rsa), ("ECDH-ES+A256KW", p256)):
        token = jwe.JWE(plaintext.encode(), protected={"alg": alg, "enc": "A256GCM"})
        token.add_recipient(recipient)
        seed("jwe_compact", token.serialize(compact=True))
        seed("jwe_json", token.serialize())
    general = jwe.JWE(plaintext.encode(), protected={"enc": "A256GCM"})
    general.add_recipient(rsa, header={"alg": "RSA-OAEP-256", "kid": rsa.thumbprint()})
    general.add_recipient(p256, header={"alg": "ECDH-ES+A256KW"})
    seed("jwe_json", general.serialize())
    seed("json_payload", plaintext)
seed("jwe_compact", "a.b.c.d.e")
seed("jwe_json", '{"protected":"e30","ciphertext":"","iv":"","tag":""}')
seed("json_payload", '{"email":"a@b.c","email":"d@e.f"}')
seed("json_payload", '{"from":"2026-11-01","to":"2026-11-30","password":"national_id"}')

seed("sealed_field", bytes([1]) + bytes(12) + bytes(16))
seed("sealed_field", bytes([1]) + os.urandom(12 + 40))
seed("wrapped_key", bytes([1]) + struct.pack(">I", 1) + os.urandom(12 + 32 + 16))
seed("wrapped_key", bytes([1]) + struct.pack(">I", 7) + bytes(4))

header = bytes([1]) + bytes([0x11]) * 39
seed("stream_segments", bytes([0, 10, 0]) + header + os.urandom(26))
seed("stream_segments", bytes([1, 0, 0, 7, 0, 0, 40, 3]))
seed("stream_segments", bytes([3, 0x40, 0x01, 200, 1, 0, 0, 5]))

for size, header in ((1000, "bytes=0-99"), (1000, "bytes=-10"), (1000, "bytes=990-"),
                     (0, "bytes=0-"), (1 << 40, "bytes=5-3"), (70000, "bytes=65536-65600,1-2")):
    seed("range", struct.pack(">Q", size) + header.encode())

for name in ("payslip.pdf", "../../etc/passwd", "..\\..\\boot.ini", "résumé 📄.pdf", ".htaccess",
             "a\"b;c", "application/pdf", "text/plain; charset=utf-8"):
    seed("file_name", name)
for text in ("KES-1250.00", "JPY300", "BHD1.234", "UGX1.5", "KES999999999999999", "USD+0.01", "EUR1e5"):
    seed("money", text)
for text in ("2026-11-01/2026-11-30", "-001-01-01", "+10000-01-01/", "/9999-12-31", "2026-02-29", "1990-04-01"):
    seed("dates", text)
cursor = base64.urlsafe_b64encode(struct.pack(">q", 1_764_000_000_000_000) + uuid.uuid4().bytes).rstrip(b"=")
for text in (cursor.decode(), str(uuid.uuid4()), uuid.uuid4().hex, "urn:uuid:" + str(uuid.uuid4()),
             base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()):
    seed("cursors", text)
