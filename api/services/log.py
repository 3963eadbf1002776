"""Proofs for a person's history: each event's leaf, and its inclusion in a signed checkpoint."""

from __future__ import annotations

import base64
from uuid import UUID

from domain.ledger import Ledger
from projections.tlog import VerifiableLog, leaf_bytes, leaf_index


class Proofs(list):
    checkpoint: str = ""


def proven_events(log: VerifiableLog, ledger: Ledger, pid: UUID, versions: list[int]) -> Proofs:
    """For each version of the stream, {leaf_index, leaf, inclusion} against a checkpoint that
    holds them all: the log catches up and signs one first if the last does not yet."""
    log.catch_up()
    checkpoint = log.checkpoint()
    runs = log.runs()
    positions = ledger.store.positions_of(pid)
    stored = {r[2]: r for p in sorted(positions.values()) for r in ledger.store.read_records(p, 1)}
    found = Proofs()
    found.checkpoint = checkpoint.note
    for version in versions:
        n, originator, v, topic, state = stored[version]
        index = leaf_index(runs, n)
        leaf = leaf_bytes(n, originator, v, topic, state)
        found.append({"leaf_index": index, "leaf": base64.b64encode(leaf).decode(),
                      "inclusion": [base64.b64encode(h).decode() for h in log.tree.inclusion(index, checkpoint.size)]})
    return found
