"""An outside auditor's verifier, written from docs/verifiable-log.md alone: it imports nothing
of the ledger, only the standard library, `cryptography` for Ed25519, and for a log in the 国密
mode OpenSSL's SM3 (hashlib) and its `openssl pkeyutl` for SM2 (another implementation than the
ledger's)."""

from __future__ import annotations

import base64
import hashlib
import struct
import subprocess
import tempfile
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def leaf_hash(leaf: bytes, hash_name: str = "sha256") -> bytes:
    return hashlib.new(hash_name, b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes, hash_name: str = "sha256") -> bytes:
    return hashlib.new(hash_name, b"\x01" + left + right).digest()


def parse_leaf(leaf: bytes) -> dict:
    position, = struct.unpack(">Q", leaf[:8])
    originator = leaf[8:24]
    version, = struct.unpack(">Q", leaf[24:32])
    n, = struct.unpack(">H", leaf[32:34])
    return {"position": position, "originator_id": originator.hex(), "version": version,
            "topic": leaf[34:34 + n].decode(), "state": leaf[34 + n:]}


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes,
                     hash_name: str = "sha256") -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = node_hash(p, r, hash_name)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p, hash_name)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def verify_consistency(first: int, second: int, first_hash: bytes, second_hash: bytes, proof: list[bytes],
                       hash_name: str = "sha256") -> bool:
    if first == second:
        return not proof and first_hash == second_hash
    if first == 0 or first > second or not proof:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path = [first_hash] + path
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = node_hash(c, fr, hash_name), node_hash(c, sr, hash_name)
            if fn % 2 == 0:
                while fn % 2 == 0 and fn != 0:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c, hash_name)
        fn, sn = fn >> 1, sn >> 1
    return fr == first_hash and sr == second_hash and sn == 0


SM2_TYPE = b"\xffSM2-SM3"
# SubjectPublicKeyInfo of an SM2 point: id-ecPublicKey, the SM2 curve, then 0x04 || x || y.
SM2_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a811ccf5501822d034200")


def _der_integer(value: bytes) -> bytes:
    value = value.lstrip(b"\0") or b"\0"
    if value[0] & 0x80:
        value = b"\0" + value
    return b"\x02" + bytes([len(value)]) + value


def sm2_verify_with_openssl(point: bytes, message: bytes, signature: bytes) -> bool:
    """SM2 with SM3 and the default identifier, checked by the openssl command."""
    body = _der_integer(signature[:32]) + _der_integer(signature[32:])
    with tempfile.TemporaryDirectory() as d:
        folder = Path(d)
        (folder / "key.der").write_bytes(SM2_SPKI_PREFIX + point)
        (folder / "sig.der").write_bytes(b"\x30" + bytes([len(body)]) + body)
        (folder / "message").write_bytes(message)
        done = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(folder / "key.der"), "-keyform",
                               "DER", "-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678", "-in",
                               str(folder / "message"), "-sigfile", str(folder / "sig.der")], capture_output=True)
    return done.returncode == 0


def hash_of(vkey: str) -> str:
    """sm3 for a 国密 log's key, sha256 for an Ed25519 one."""
    return "sm3" if base64.b64decode(vkey.strip().split("+", 2)[2]).startswith(SM2_TYPE) else "sha256"


def open_checkpoint(note: str, vkey: str) -> tuple[str, int, bytes]:
    """(origin, size, root) of a signed checkpoint, after checking its signature by `vkey`
    (Ed25519, or SM2 for a log in the 国密 mode); ValueError if it does not verify."""
    name, key_id_hex, key_b64 = vkey.strip().split("+", 2)
    key = base64.b64decode(key_b64)
    sm2 = key.startswith(SM2_TYPE)
    assert sm2 and len(key) == len(SM2_TYPE) + 65 or key[0] == 1 and len(key) == 33, "not an Ed25519 or SM2 key"
    assert hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id_hex, "key id mismatch"
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        dash, signer, sig_b64 = line.split(" ")
        blob = base64.b64decode(sig_b64)
        if dash == "\u2014" and signer == name and blob[:4].hex() == key_id_hex:
            if sm2:
                if not sm2_verify_with_openssl(key[len(SM2_TYPE):], text.encode(), blob[4:]):
                    raise ValueError(f"the SM2 signature by {name} does not verify")
            else:
                Ed25519PublicKey.from_public_bytes(key[1:]).verify(blob[4:], text.encode())  # raises if forged
            origin, size, root = text.split("\n")[:3]
            return origin, int(size), base64.b64decode(root)
    raise ValueError(f"no signature by {name}")
