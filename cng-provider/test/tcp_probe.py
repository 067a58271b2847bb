#!/usr/bin/env python3
"""Probes the agent's loopback TCP listener: tcp_probe.py PORT SECRET_HEX|wrong.
With the right secret the hello must be answered with ok; with a wrong one the
agent must close the connection without a reply. Exit 0 when it behaves."""
import socket
import struct
import sys


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    if n < 256:
        return bytes([major << 5 | 24, n])
    return bytes([major << 5 | 25]) + struct.pack(">H", n)


def cbor(v):
    if isinstance(v, bool):
        return b"\xf5" if v else b"\xf4"
    if isinstance(v, int):
        return cbor_head(0, v)
    if isinstance(v, bytes):
        return cbor_head(2, len(v)) + v
    if isinstance(v, str):
        return cbor_head(3, len(v.encode())) + v.encode()
    if isinstance(v, dict):
        return cbor_head(5, len(v)) + b"".join(cbor(k) + cbor(x) for k, x in v.items())
    raise TypeError(v)


port, secret = int(sys.argv[1]), sys.argv[2]
key = bytes(32) if secret == "wrong" else bytes.fromhex(secret)
hello = cbor({"id": 1, "op": "hello", "version": 1, "client": "probe", "app": "tcp_probe.py", "pid": 1, "secret": key})
s = socket.create_connection(("127.0.0.1", port), timeout=10)
s.sendall(struct.pack(">I", len(hello)) + hello)
reply = b""
try:
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
        if len(reply) >= 4 and len(reply) >= 4 + struct.unpack(">I", reply[:4])[0]:
            break
except socket.timeout:
    print("no reply and no close within 10 s")
    sys.exit(1)
if secret == "wrong":
    print("closed with %d reply bytes" % len(reply))
    sys.exit(0 if reply == b"" else 1)
ok = b"\x62ok\xf5" in reply
print("reply: %r" % reply[:80])
sys.exit(0 if ok else 1)
