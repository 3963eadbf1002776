"""Witness cosignatures of checkpoints: C2SP tlog-cosignature, the Ed25519 `cosignature/v1` type.

A witness (another body: the audit office, the finance bureau) signs a checkpoint only after it has
checked that the tree grew from the last one it signed. Its signature is one more line of the
checkpoint's signed note:

    — <witness name> base64(key id || 8-byte big-endian timestamp || Ed25519 signature)

signed over `cosignature/v1\\ntime <timestamp>\\n` followed by the checkpoint's body. The key id is
the first 4 bytes of SHA-256(name || 0x0A || 0x04 || public key); the witness's verifier key is
`<name>+<hex key id>+<base64(0x04 || public key)>`.
"""

from __future__ import annotations

import base64
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from projections.notes import DASH, NoteError, key_id, parse_vkey, signatures_by

COSIGNATURE_V1 = b"\x04"
# A signature line's blob: key id, timestamp, Ed25519 signature.
BLOB = 4 + 8 + 64


def signed_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


def note_body(note: str) -> str:
    """The checkpoint's text of a signed note (its lines up to the blank line, newline included)."""
    text, sep, _ = note.partition("\n\n")
    if not sep or not text:
        raise NoteError("the note has no signature block")
    return text + "\n"


class Cosigner:
    """A witness's key, and the cosignatures it makes."""

    def __init__(self, name: str, key: Ed25519PrivateKey):
        if not name or any(c.isspace() for c in name) or "+" in name:
            raise ValueError(f"a witness name is one word without '+', got {name!r}")
        self.name = name
        self._key = key
        self.public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.id = key_id(name, self.public, COSIGNATURE_V1)

    def verifier_key(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(COSIGNATURE_V1 + self.public).decode()}"

    def cosign(self, body: str, timestamp: int | None = None) -> str:
        """The signature line for the checkpoint `body`, made now (or at `timestamp`)."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        signature = self._key.sign(signed_message(body, timestamp))
        blob = self.id + timestamp.to_bytes(8, "big") + signature
        return f"{DASH} {self.name} {base64.b64encode(blob).decode()}\n"


def parse_cosigner_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    name, kid, raw = parse_vkey(vkey, COSIGNATURE_V1, "witness key")
    if len(raw) != 32:
        raise NoteError("the witness key is not an Ed25519 cosignature/v1 key")
    return name, kid, Ed25519PublicKey.from_public_bytes(raw)


def verify_cosignature(note: str, vkey: str) -> int:
    """The timestamp of the witness's valid cosignature on the note's checkpoint; NoteError if the
    note carries none (a line of that name and key id whose signature fails is an error too)."""
    name, kid, public = parse_cosigner_key(vkey)
    body = note_body(note)
    for signed in signatures_by(note[len(body) + 1:], name, kid):
        if len(signed) != BLOB - 4:
            continue
        timestamp = int.from_bytes(signed[:8], "big")
        try:
            public.verify(signed[8:], signed_message(body, timestamp))
        except InvalidSignature:
            raise NoteError(f"the cosignature by {name} does not match the checkpoint") from None
        return timestamp
    raise NoteError(f"the checkpoint carries no cosignature by {name}")
