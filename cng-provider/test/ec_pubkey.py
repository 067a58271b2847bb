#!/usr/bin/env python3
"""ec_pubkey.py ID OUT.pem < `pkcs11-tool --list-objects --type pubkey` output.
Writes the EC public key with CKA_ID=ID as a PEM SubjectPublicKeyInfo, built
from its EC_PARAMS and EC_POINT: pkcs11-tool --read-object cannot export
P-384 keys with OpenSSL 3 ("cannot create EVP_PKEY")."""
import base64
import re
import sys


def der(tag, body):
    n = len(body)
    if n < 128:
        length = bytes([n])
    elif n < 256:
        length = b"\x81" + bytes([n])
    else:
        length = b"\x82" + n.to_bytes(2, "big")
    return bytes([tag]) + length + body


want, out = sys.argv[1].lower(), sys.argv[2]
for block in sys.stdin.read().split("Public Key Object")[1:]:
    ident = re.search(r"ID:\s+([0-9a-fA-F]+)", block)
    point = re.search(r"EC_POINT:\s+([0-9a-fA-F]+)", block)
    params = re.search(r"EC_PARAMS:\s+([0-9a-fA-F]+)", block)
    if not (ident and point and params) or ident.group(1).lower() != want:
        continue
    p = bytes.fromhex(point.group(1))
    if p[0] == 0x04 and len(p) > 2 and p[1] + 2 == len(p) or (p[1] == 0x81 and p[2] + 3 == len(p)):
        p = p[2:] if p[1] != 0x81 else p[3:]  # unwrap the DER OCTET STRING
    ec_public_key = bytes.fromhex("06072a8648ce3d0201")
    spki = der(0x30, der(0x30, ec_public_key + bytes.fromhex(params.group(1))) + der(0x03, b"\x00" + p))
    b64 = base64.encodebytes(spki).decode().replace("\n", "")
    with open(out, "w") as f:
        f.write("-----BEGIN PUBLIC KEY-----\n")
        f.write("\n".join(b64[i:i + 64] for i in range(0, len(b64), 64)) + "\n")
        f.write("-----END PUBLIC KEY-----\n")
    sys.exit(0)
sys.exit("no EC public key with ID " + want)
