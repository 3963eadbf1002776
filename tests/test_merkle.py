"""RFC 9162 tree heads and proofs against an independent reference (transparency-dev/merkle's
vectors), and for random sizes: every proof the tree makes verifies, every altered one fails."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import merkle

VECTORS = json.loads((Path(__file__).parent / "fixtures" / "merkle" / "transparency-dev.json").read_text())
LEAVES = [bytes.fromhex(h) for h in VECTORS["leaf_inputs_hex"]]
ROOTS = [bytes.fromhex(h) for h in VECTORS["root_hashes_hex"]]


def b(text: str | None) -> bytes:
    return base64.b64decode(text or "")


class ListTree:
    """A tree over leaves in memory, as the subtree reader the proof builders take."""

    def __init__(self, leaves: list[bytes]):
        self.hashes = [merkle.leaf_hash(x) for x in leaves]

    def subtree(self, level: int, index: int) -> bytes:
        nodes = self.hashes[index << level:(index + 1) << level]
        assert len(nodes) == 1 << level, "asked for an incomplete subtree"
        while len(nodes) > 1:
            nodes = [merkle.node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
        return nodes[0]


def naive_root(hashes: list[bytes]) -> bytes:
    """MTH straight from RFC 9162's definition, recursively."""
    if not hashes:
        return merkle.EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    k = 1 << ((len(hashes) - 1).bit_length() - 1)
    return merkle.node_hash(naive_root(hashes[:k]), naive_root(hashes[k:]))


def test_tree_heads_of_the_reference_leaves():
    for size, expected in enumerate(ROOTS):
        assert merkle.root(ListTree(LEAVES[:size]).subtree, size) == expected, size


def test_every_reference_inclusion_vector_verifies_or_fails_as_it_should():
    assert len(VECTORS["inclusion"]) > 50
    for case in VECTORS["inclusion"]:
        ok = merkle.verify_inclusion(b(case["leafHash"]), case["leafIdx"], case["treeSize"],
                                     [b(p) for p in case["proof"] or []], b(case["root"]))
        assert ok is not case["wantErr"], case["file"]


def test_every_reference_consistency_vector_verifies_or_fails_as_it_should():
    assert len(VECTORS["consistency"]) > 50
    for case in VECTORS["consistency"]:
        ok = merkle.verify_consistency(case["size1"], case["size2"], b(case["root1"]), b(case["root2"]),
                                       [b(p) for p in case["proof"] or []])
        assert ok is not case["wantErr"], case["file"]


def test_the_proofs_made_equal_the_reference_happy_paths():
    tree = ListTree(LEAVES)
    made = 0
    for case in VECTORS["inclusion"]:
        if case["desc"] == "happy path" and case["treeSize"] <= len(LEAVES):
            assert merkle.inclusion_proof(tree.subtree, case["leafIdx"], case["treeSize"]) == \
                [b(p) for p in case["proof"] or []], case["file"]
            made += 1
    for case in VECTORS["consistency"]:
        if case["desc"] == "happy path" and 0 < case["size1"] <= case["size2"] <= len(LEAVES):
            assert merkle.consistency_proof(tree.subtree, case["size1"], case["size2"]) == \
                [b(p) for p in case["proof"] or []], case["file"]
            made += 1
    assert made >= 4


@st.composite
def sizes(draw):
    n = draw(st.integers(1, 300))
    m = draw(st.integers(1, n))
    i = draw(st.integers(0, n - 1))
    return m, n, i


@settings(max_examples=150, deadline=None)
@given(sizes(), st.data())
def test_random_trees_every_proof_verifies_and_every_altered_one_fails(mni, data):
    m, n, i = mni
    tree = ListTree([i.to_bytes(4, "big") for i in range(n)])
    root_m, root_n = merkle.root(tree.subtree, m), merkle.root(tree.subtree, n)
    assert root_n == naive_root(tree.hashes) and root_m == naive_root(tree.hashes[:m])
    path = merkle.inclusion_proof(tree.subtree, i, n)
    assert merkle.verify_inclusion(tree.hashes[i], i, n, path, root_n)
    proof = merkle.consistency_proof(tree.subtree, m, n)
    assert merkle.verify_consistency(m, n, root_m, root_n, proof)
    # Altered: another leaf, another index, a flipped bit, a hash dropped or added, the wrong root.
    assert not merkle.verify_inclusion(merkle.leaf_hash(b"other"), i, n, path, root_n)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda j: j != i))
        assert not merkle.verify_inclusion(tree.hashes[i], other, n, path, root_n)
    for altered in _altered(path, data):
        assert not merkle.verify_inclusion(tree.hashes[i], i, n, altered, root_n)
    if m < n:
        assert not merkle.verify_consistency(m, n, root_m, merkle.leaf_hash(b"x"), proof)
        assert not merkle.verify_consistency(m, n, merkle.leaf_hash(b"x"), root_n, proof)
        for altered in _altered(proof, data):
            assert not merkle.verify_consistency(m, n, root_m, root_n, altered)


def _altered(proof: list[bytes], data) -> list[list[bytes]]:
    variants = [proof + [merkle.leaf_hash(b"extra")]]
    if proof:
        k = data.draw(st.integers(0, len(proof) - 1))
        bit = data.draw(st.integers(0, 255))
        flipped = bytearray(proof[k])
        flipped[bit // 8] ^= 1 << (bit % 8)
        variants += [proof[:k] + [bytes(flipped)] + proof[k + 1:], proof[:-1]]
    return variants
