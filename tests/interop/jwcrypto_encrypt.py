#!/usr/bin/env python3
"""An independent JOSE implementation for the interop tests: encrypts a file to
piivault's published JWKS with Python jwcrypto and prints the JWE.

usage: jwcrypto_encrypt.py JWKS_FILE ALG compact|flattened|general PLAINTEXT_FILE
ALG is RSA-OAEP-256, RSA-OAEP or ECDH-ES+A256KW; enc is always A256GCM."""
import json
import sys

from jwcrypto import jwe, jwk
from jwcrypto.common import json_encode


def main():
    jwks_file, alg, serialization, plaintext_file = sys.argv[1:5]
    keys = json.load(open(jwks_file))["keys"]
    # The key published for this algorithm: a JWK names one `alg`, so an RSA key is
    # listed once per algorithm it accepts.
    public = next(k for k in keys if k["alg"] == alg)
    key = jwk.JWK(**public)
    plaintext = open(plaintext_file, "rb").read()
    protected = {"alg": alg, "enc": "A256GCM", "kid": public["kid"]}
    token = jwe.JWE(plaintext, protected=json_encode(protected))
    token.add_recipient(key)
    if serialization == "compact":
        print(token.serialize(compact=True))
    else:
        # jwcrypto's JSON form is flattened for one recipient; make the general form
        # by moving the recipient into a `recipients` array.
        document = json.loads(token.serialize())
        if serialization == "general" and "recipients" not in document:
            recipient = {"encrypted_key": document.pop("encrypted_key")}
            if "header" in document:
                recipient["header"] = document.pop("header")
            document["recipients"] = [recipient]
        print(json.dumps(document))


if __name__ == "__main__":
    main()
