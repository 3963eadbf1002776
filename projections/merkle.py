"""The Merkle tree hash of RFC 9162 §2.1 (as RFC 6962): leaf and node hashes, the tree head of the
first n leaves, and inclusion and consistency proofs with their verification.

Proofs are built from `subtree(level, index)`, the hash of a complete subtree of 2**level leaves
starting at leaf index * 2**level: the log keeps those (projections/tlog.py), so no proof needs
the whole tree in memory. The functions here know nothing of where the hashes come from.

The hash is SHA-256 as RFC 9162 says, or SM3 (GB/T 32905, 商用密码) in the same construction for a
log made in the 国密 mode: `TreeHash`, passed as `h`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Subtree = Callable[[int, int], bytes]  # (level, index) -> the complete subtree's hash


class TreeHash:
    """A 32-byte hash the tree is made with: `digest(data)`, and RFC 9162's leaf and node hashes."""

    def __init__(self, name: str, digest: Callable[[bytes], bytes]):
        self.name, self.digest = name, digest
        self.empty = digest(b"")  # MTH({}): the hash of nothing

    def leaf(self, leaf: bytes) -> bytes:
        return self.digest(b"\x00" + leaf)

    def node(self, left: bytes, right: bytes) -> bytes:
        return self.digest(b"\x01" + left + right)


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _sm3() -> Callable[[bytes], bytes]:
    """SM3 from the OpenSSL this Python is built with (C speed); copying a fresh hasher is twice as
    fast as asking hashlib.new for one each time."""
    try:
        proto = hashlib.new("sm3")
    except ValueError:
        raise ValueError("this Python's OpenSSL has no SM3: the 国密 log mode needs OpenSSL 1.1.1 or newer"
                         " built with SM3") from None

    def digest(data: bytes) -> bytes:
        h = proto.copy()
        h.update(data)
        return h.digest()

    return digest


SHA256 = TreeHash("sha256", _sha256)
_BY_NAME: dict[str, TreeHash] = {"sha256": SHA256}


def tree_hash(name: str) -> TreeHash:
    """The tree hash called `name`: sha256 or sm3."""
    if name not in _BY_NAME:
        if name != "sm3":
            raise ValueError(f"no tree hash {name!r}: sha256 or sm3")
        _BY_NAME[name] = TreeHash("sm3", _sm3())
    return _BY_NAME[name]


def leaf_hash(leaf: bytes) -> bytes:
    return SHA256.leaf(leaf)


def node_hash(left: bytes, right: bytes) -> bytes:
    return SHA256.node(left, right)


EMPTY_ROOT = SHA256.empty  # MTH({}) = SHA-256()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(subtree: Subtree, start: int, end: int, h: TreeHash = SHA256) -> bytes:
    """MTH(D[start:end]) where start is a multiple of the largest power of two not above end - start,
    as every range a proof or a tree head asks for is."""
    n = end - start
    if n <= 0:
        return h.empty
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return subtree(level, start >> level)
    k = _split(n)
    return h.node(subtree((k.bit_length() - 1), start // k), range_hash(subtree, start + k, end, h))


def root(subtree: Subtree, size: int, h: TreeHash = SHA256) -> bytes:
    return range_hash(subtree, 0, size, h)


def inclusion_proof(subtree: Subtree, index: int, size: int, h: TreeHash = SHA256) -> list[bytes]:
    """PATH(m, D[0:n]) of RFC 9162 §2.1.3.1, leaf to root order."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(subtree, start + k, end, h))
            end = start + k
        else:
            path.append(range_hash(subtree, start, start + k, h))
            start += k
    return path[::-1]


def consistency_proof(subtree: Subtree, old: int, new: int, h: TreeHash = SHA256) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1: SUBPROOF(m, D[0:n], true)."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to {new}")
    proof: list[bytes] = []

    def sub(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                proof.append(range_hash(subtree, start, end, h))
            return
        k = _split(n)
        if m <= k:
            sub(m, start, start + k, whole)
            proof.append(range_hash(subtree, start + k, end, h))
        else:
            sub(m - k, start + k, end, False)
            proof.append(range_hash(subtree, start, start + k, h))

    sub(old, 0, new, True)
    return proof


def _hashes(*values: bytes) -> bool:
    return all(len(v) == 32 for v in values)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes,
                     h: TreeHash = SHA256) -> bool:
    """RFC 9162 §2.1.3.2, for the leaf hash `leaf`."""
    if not 0 <= index < size or not _hashes(leaf, root_hash, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = h.node(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = h.node(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes],
                       h: TreeHash = SHA256) -> bool:
    """RFC 9162 §2.1.4.2. Between a tree and itself the proof is empty; from the empty tree there
    is nothing to prove."""
    if old == new:
        return old > 0 and not proof and old_root == new_root
    if not _hashes(old_root, new_root, *proof):
        return False
    if not 0 < old < new or not proof:
        return False
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node
        path.insert(0, old_root)
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = h.node(c, fr), h.node(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = h.node(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
