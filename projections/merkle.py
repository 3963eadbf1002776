"""The Merkle tree hash of RFC 9162 §2.1 (as RFC 6962): leaf and node hashes, the tree head of the
first n leaves, and inclusion and consistency proofs with their verification.

Proofs are built from `subtree(level, index)`, the hash of a complete subtree of 2**level leaves
starting at leaf index * 2**level: the log keeps those (projections/tlog.py), so no proof needs
the whole tree in memory. The functions here know nothing of where the hashes come from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

Subtree = Callable[[int, int], bytes]  # (level, index) -> the complete subtree's hash


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = SHA-256()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def range_hash(subtree: Subtree, start: int, end: int) -> bytes:
    """MTH(D[start:end]) where start is a multiple of the largest power of two not above end - start,
    as every range a proof or a tree head asks for is."""
    n = end - start
    if n <= 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0:
        level = n.bit_length() - 1
        return subtree(level, start >> level)
    k = _split(n)
    return node_hash(subtree((k.bit_length() - 1), start // k), range_hash(subtree, start + k, end))


def root(subtree: Subtree, size: int) -> bytes:
    return range_hash(subtree, 0, size)


def inclusion_proof(subtree: Subtree, index: int, size: int) -> list[bytes]:
    """PATH(m, D[0:n]) of RFC 9162 §2.1.3.1, leaf to root order."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} is outside a tree of size {size}")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(range_hash(subtree, start + k, end))
            end = start + k
        else:
            path.append(range_hash(subtree, start, start + k))
            start += k
    return path[::-1]


def consistency_proof(subtree: Subtree, old: int, new: int) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1: SUBPROOF(m, D[0:n], true)."""
    if not 0 < old <= new:
        raise ValueError(f"no consistency proof from size {old} to {new}")
    proof: list[bytes] = []

    def sub(m: int, start: int, end: int, whole: bool) -> None:
        n = end - start
        if m == n:
            if not whole:
                proof.append(range_hash(subtree, start, end))
            return
        k = _split(n)
        if m <= k:
            sub(m, start, start + k, whole)
            proof.append(range_hash(subtree, start + k, end))
        else:
            sub(m - k, start + k, end, False)
            proof.append(range_hash(subtree, start, start + k))

    sub(old, 0, new, True)
    return proof


def _hashes(*values: bytes) -> bool:
    return all(len(v) == 32 for v in values)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2, for the leaf hash `leaf`."""
    if not 0 <= index < size or not _hashes(leaf, root_hash, *proof):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
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
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old_root and sr == new_root
