"""SM2 signatures with SM3 (GB/T 32918.2, GB/T 32905; 商用密码), for the checkpoints of a log made in
the 国密 mode.

The arithmetic is the `gmssl` package's (pure Python: no C library to install, about 0.1 s a
signature, enough for a checkpoint every few seconds); its nonce is drawn here from `secrets`, since
gmssl's own default comes from `random`. The signature is over SM3(Z || message), Z made with the
default distinguishing identifier 1234567812345678 (GB/T 35276), and written as r || s, 32 bytes
each.

The key file is PKCS #8 PEM, as `openssl genpkey -algorithm SM2` writes it (made on first use,
readable by its owner only). A file others may read, or holding a key of another curve or
algorithm, is refused when the log starts.

In a signed note, the key type is 0xff (signed-note's byte for types it does not list) followed by
the identifier `SM2-SM3`, then the public key as 0x04 || x || y.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from Cryptodome.IO import PEM
from Cryptodome.Util.asn1 import DerBitString, DerObjectId, DerOctetString, DerSequence
from gmssl import sm2

from projections.notes import DASH, NoteError, create_key_file, key_id

SM2_TYPE = b"\xffSM2-SM3"
EC_PUBLIC_KEY = "1.2.840.10045.2.1"
SM2_CURVE = "1.2.156.10197.1.301"
ORDER = int(sm2.default_ecc_table["n"], 16)


def _crypt(private_hex: str = "", public_hex: str = "") -> sm2.CryptSM2:
    return sm2.CryptSM2(private_key=private_hex, public_key=public_hex)


def public_of(private: int) -> bytes:
    """x || y of the private key's public point."""
    return bytes.fromhex(_crypt()._kg(private, sm2.default_ecc_table["g"]))


def sign(private: int, public: bytes, message: bytes, nonce: int | None = None) -> bytes:
    """r || s; `nonce` only for the standard's known-answer test."""
    signer = _crypt(f"{private:064x}", public.hex())
    while True:
        k = nonce if nonce is not None else secrets.randbelow(ORDER - 1) + 1
        found = signer.sign_with_sm3(message, f"{k:064x}")
        if found is not None:  # r = 0 or r + k = n: the standard says draw another k
            return bytes.fromhex(found)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != 64 or len(public) != 64:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (0 < r < ORDER and 0 < s < ORDER):
        return False
    try:
        return bool(_crypt("", public.hex()).verify_with_sm3(signature.hex(), message))
    except (ValueError, ZeroDivisionError):
        return False


# -- the key file ---------------------------------------------------------------------------------


def _pkcs8(private: int, public: bytes) -> bytes:
    ec_private = DerSequence([1, DerOctetString(private.to_bytes(32, "big")),
                              DerBitString(b"\x04" + public, explicit=1)]).encode()
    algorithm = DerSequence([DerObjectId(EC_PUBLIC_KEY), DerObjectId(SM2_CURVE)])
    return DerSequence([0, algorithm, DerOctetString(ec_private)]).encode()


def read_key_file(path: Path) -> int:
    """The private key in `path`; NoteError saying what is wrong with the file."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise NoteError(f"{path} may be read by others (mode {mode:o}): a signing key must be readable by its owner"
                        f" only (chmod 600 {path})")
    try:
        der, marker, _ = PEM.decode(path.read_text())
        if marker != "PRIVATE KEY":
            raise ValueError(f"a PEM block of {marker}, not PRIVATE KEY")
        info = DerSequence().decode(der)
        algorithm = DerSequence().decode(info[1])
        kind, curve = DerObjectId().decode(algorithm[0]).value, DerObjectId().decode(algorithm[1]).value
        ec_private = DerSequence().decode(DerOctetString().decode(info[2]).payload)
        private = int.from_bytes(DerOctetString().decode(ec_private[1]).payload, "big")
    except (ValueError, IndexError, TypeError) as e:
        raise NoteError(f"{path} is not an SM2 private key in PKCS #8 PEM: {e}") from None
    if kind != EC_PUBLIC_KEY or curve != SM2_CURVE:
        raise NoteError(f"{path} holds a key of algorithm {kind} on curve {curve}, not SM2 ({SM2_CURVE})")
    if not 0 < private < ORDER - 1:
        raise NoteError(f"{path} holds an SM2 private key out of range")
    return private


def key_file(path: Path) -> int:
    """The key in `path`, made there on first use, readable by its owner only."""
    if not path.exists():
        private = secrets.randbelow(ORDER - 2) + 1
        create_key_file(path, (PEM.encode(_pkcs8(private, public_of(private)), "PRIVATE KEY") + "\n").encode())
    return read_key_file(path)


class SM2Signer:
    """The log's signer in the 国密 mode: as projections.notes.Signer, with SM2."""

    def __init__(self, name: str, private: int):
        self.name = name
        self._private = private
        self.public = public_of(private)
        self.id = key_id(name, b"\x04" + self.public, SM2_TYPE)

    @classmethod
    def from_file(cls, name: str, path: Path) -> SM2Signer:
        return cls(name, key_file(path))

    def verifier_key(self) -> str:
        encoded = base64.b64encode(SM2_TYPE + b"\x04" + self.public).decode()
        return f"{self.name}+{self.id.hex()}+{encoded}"

    def sign(self, text: str) -> str:
        signature = sign(self._private, self.public, text.encode())
        return f"{text}\n{DASH} {self.name} {base64.b64encode(self.id + signature).decode()}\n"
