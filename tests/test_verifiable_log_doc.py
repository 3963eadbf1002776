"""docs/verifiable-log.md is enough to write a verifier: its worked example checks out with the
standalone verifier (which imports nothing of the ledger), to the byte."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import standalone_verifier as outside

DOC = (Path(__file__).parents[1] / "docs" / "verifiable-log.md").read_text(encoding="utf-8")


def value(name: str) -> str:
    return re.search(rf"^{re.escape(name)} = (.+)$", DOC, re.M).group(1)


def hashes(name: str) -> list[bytes]:
    return [bytes.fromhex(x) for x in value(name).strip("[]").split(", ")]


def test_the_worked_example_checks_out():
    leaves = [bytes.fromhex(value(f"leaf[{i}]")) for i in range(3)]
    assert [outside.parse_leaf(x)["position"] for x in leaves] == [1, 2, 3]
    assert outside.parse_leaf(leaves[0])["topic"] == "domain.events:PersonRegistered"
    leaf_hashes = [outside.leaf_hash(x) for x in leaves]
    assert leaf_hashes == [bytes.fromhex(value(f"leaf_hash[{i}]")) for i in range(3)]
    root2 = outside.node_hash(leaf_hashes[0], leaf_hashes[1])
    assert root2 == bytes.fromhex(value("root(2)"))
    root3 = bytes.fromhex(value("root(3)"))
    assert outside.node_hash(root2, leaf_hashes[2]) == root3
    assert outside.verify_inclusion(leaf_hashes[0], 0, 3, hashes("inclusion(index=0, size=3)"), root3)
    assert outside.verify_consistency(2, 3, root2, root3, hashes("consistency(from=2, to=3)"))


def test_the_example_checkpoint_verifies_with_the_example_key():
    blocks = re.findall(r"```\n(.*?)```", DOC, re.S)
    note = next(b for b in blocks if b.startswith("ledger.example/500110\n3\n"))
    vkey = next(b for b in blocks if re.fullmatch(r"ledger\.example/500110\+[0-9a-f]{8}\+\S+\n", b))
    public = Ed25519PrivateKey.from_private_bytes(bytes(range(32))).public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    name, key_id, key = vkey.strip().split("+", 2)
    assert base64.b64decode(key) == b"\x01" + public
    assert hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex() == key_id
    origin, size, root = outside.open_checkpoint(note, vkey)
    assert (origin, size, root) == ("ledger.example/500110", 3, bytes.fromhex(value("root(3)")))


def test_the_cosigned_example_checks_out_by_hand():
    """The witness's line read as the page says: key id, big-endian time, Ed25519 over the
    cosignature/v1 message; the log's own signature still verifies beside it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    note = re.search(r"```\n(ledger\.example/500110\n3\n[^`]*?witness\.example/w1 [^\n]+\n)```", DOC).group(1)
    vkey = re.search(r"^(witness\.example/w1\+[0-9a-f]{8}\+\S+)$", DOC, re.M).group(1)
    name, key_id, encoded = vkey.split("+", 2)
    key = base64.b64decode(encoded)
    assert key[0] == 0x04 and hashlib.sha256(name.encode() + b"\n" + key).digest()[:4].hex() == key_id
    blob = base64.b64decode(note.splitlines()[-1].split(" ")[2])
    assert blob[:4].hex() == key_id and int.from_bytes(blob[4:12], "big") == 1765000000
    body = note.split("\n\n")[0] + "\n"
    Ed25519PublicKey.from_public_bytes(key[1:]).verify(blob[12:], f"cosignature/v1\ntime 1765000000\n{body}".encode())
    log_key = re.search(r"^(ledger\.example/500110\+[0-9a-f]{8}\+\S+)$", DOC, re.M).group(1)
    assert outside.open_checkpoint(note, log_key)[1] == 3


def test_the_sm3_example_checks_out():
    leaves = [bytes.fromhex(value(f"leaf[{i}]")) for i in range(3)]
    hashed = [outside.leaf_hash(x, "sm3") for x in leaves]
    assert hashed == [bytes.fromhex(value(f"sm3_leaf_hash[{i}]")) for i in range(3)]
    root2 = outside.node_hash(hashed[0], hashed[1], "sm3")
    assert root2 == bytes.fromhex(value("sm3_root(2)"))
    assert outside.node_hash(root2, hashed[2], "sm3") == bytes.fromhex(value("sm3_root(3)"))
