"""Checkpoints as C2SP tlog-checkpoint text, signed as C2SP signed-note with Ed25519.

    <origin>\\n<tree size>\\n<base64 root hash>\\n
    \\n
    — <key name> <base64(key id || signature)>\\n

The key name is the origin; the key id is the first 4 bytes of SHA-256(name || 0x0A || 0x01 ||
public key); the verifier key is `<name>+<hex key id>+<base64(0x01 || public key)>`. The signing
key comes from the `cryptography` package and is kept in a file only its owner may read.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519 = b"\x01"
DASH = "\u2014"


def key_id(name: str, public: bytes, kind: bytes = ED25519) -> bytes:
    """A signed-note key id: the first 4 bytes of SHA-256(name || 0x0A || key type || public key)."""
    return hashlib.sha256(name.encode() + b"\n" + kind + public).digest()[:4]


def create_key_file(path: Path, pem: bytes) -> None:
    """Write a new private key file readable by its owner only; if another process made it first,
    theirs is kept."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    with os.fdopen(fd, "wb") as f:
        f.write(pem)


def ed25519_key_file(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in `path` (PEM, PKCS #8), made there on first use, readable by its
    owner only."""
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        create_key_file(path, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ValueError(f"{path} does not hold an Ed25519 private key")
    return loaded


def checkpoint_text(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


class Signer:
    def __init__(self, name: str, key: Ed25519PrivateKey):
        self.name = name
        self._key = key
        self.public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.id = key_id(name, self.public)

    @classmethod
    def from_file(cls, name: str, path: Path) -> Signer:
        """The key in `path`, made there on first use, readable by its owner only."""
        return cls(name, ed25519_key_file(path))

    def verifier_key(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(ED25519 + self.public).decode()}"

    def sign(self, text: str) -> str:
        signature = self._key.sign(text.encode())
        return f"{text}\n{DASH} {self.name} {base64.b64encode(self.id + signature).decode()}\n"


class NoteError(ValueError):
    pass


def parse_vkey(vkey: str, kind: bytes, what: str) -> tuple[str, bytes, bytes]:
    """A signed-note verifier key `name+hex key id+base64(kind || key)`: (name, key id, key),
    once its type byte and its id (SHA-256(name || 0x0A || kind || key)[:4]) are checked."""
    try:
        name, hex_id, encoded = vkey.strip().split("+", 2)
        raw = base64.b64decode(encoded, validate=True)
    except ValueError as e:
        raise NoteError(f"the {what} is not name+keyid+key: {e}") from None
    if not raw.startswith(kind):
        raise NoteError(f"the {what} is not of type 0x{kind.hex()}")
    if key_id(name, raw[len(kind):], kind).hex() != hex_id:
        raise NoteError(f"the {what}'s id does not match its name and key")
    return name, bytes.fromhex(hex_id), raw[len(kind):]


def parse_verifier_key(vkey: str) -> tuple[str, bytes, Ed25519PublicKey]:
    name, kid, raw = parse_vkey(vkey, ED25519, "verifier key")
    if len(raw) != 32:
        raise NoteError("the verifier key is not an Ed25519 key")
    return name, kid, Ed25519PublicKey.from_public_bytes(raw)


def note_verifier(vkey: str) -> tuple[str, bytes, Callable[[bytes, bytes], bool]]:
    """(name, key id, check(signature, text) -> bool) of a log's verifier key: Ed25519, or SM2 with
    SM3 for a log in the 国密 mode (projections/sm2.py)."""
    from projections import sm2

    try:
        raw = base64.b64decode(vkey.strip().split("+", 2)[2], validate=True)
    except (ValueError, IndexError):
        raise NoteError("the verifier key is not name+keyid+key") from None
    if raw.startswith(sm2.SM2_TYPE):
        name, kid, point = parse_vkey(vkey, sm2.SM2_TYPE, "verifier key")
        if len(point) != 65 or point[0] != 4:
            raise NoteError("the verifier key is not an SM2 public key (0x04 || x || y)")
        return name, kid, lambda signature, text: sm2.verify(point[1:], text, signature)
    name, kid, public = parse_verifier_key(vkey)

    def check(signature: bytes, text: bytes) -> bool:
        try:
            public.verify(signature, text)
            return True
        except InvalidSignature:
            return False

    return name, kid, check


def tree_hash_of(vkey: str) -> str:
    """The tree hash of the log whose verifier key this is: sm3 for an SM2 key (国密 mode), else sha256."""
    from projections import sm2

    try:
        raw = base64.b64decode(vkey.strip().split("+", 2)[2], validate=True)
    except (ValueError, IndexError):
        raise NoteError("the verifier key is not name+keyid+key") from None
    return "sm3" if raw.startswith(sm2.SM2_TYPE) else "sha256"


def open_note(note: str, vkey: str) -> str:
    """The note's text, once a signature by `vkey` on it has been checked; NoteError otherwise."""
    name, kid, check = note_verifier(vkey)
    text, sep, signatures = note.rpartition("\n\n")
    if not sep or not text:
        raise NoteError("the note has no signature block")
    text += "\n"
    for signature in signatures_by(signatures, name, kid):
        if not check(signature, text.encode()):
            raise NoteError(f"the signature by {name} does not match the note")
        return text
    raise NoteError(f"the note carries no signature by {name}")


def signatures_by(lines: str, name: str, kid: bytes) -> Iterator[bytes]:
    """What follows the key id in each of a note's signature lines by `name` with key id `kid`
    (lines of other signers, or not signature lines, are passed over)."""
    for line in lines.splitlines():
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != DASH or parts[1] != name:
            continue
        try:
            blob = base64.b64decode(parts[2], validate=True)
        except ValueError:
            continue
        if blob[:4] == kid:
            yield blob[4:]


def parse_checkpoint(text: str) -> tuple[str, int, bytes]:
    lines = text.split("\n")
    if len(lines) < 4 or not lines[1].isdigit():
        raise NoteError("not a checkpoint: origin, size and root hash lines expected")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except ValueError:
        raise NoteError("the checkpoint's root hash is not base64") from None
    if len(root) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    return lines[0], int(lines[1]), root
