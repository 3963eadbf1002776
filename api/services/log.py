"""Proofs for a person's history: each event's leaf, and its inclusion in a signed checkpoint."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from domain.ledger import Ledger
from projections.tlog import VerifiableLog, leaf_bytes, leaf_index


def proven_events(log: VerifiableLog, ledger: Ledger, pid: UUID, versions: list[int]) -> tuple[str, list[dict[str, Any]]]:
    """(the signed checkpoint, and for each version of the stream {leaf_index, leaf, inclusion}
    against it): the log catches up and signs one first if the last does not hold them all."""
    log.catch_up()
    checkpoint = log.checkpoint()
    runs = log.runs()
    stored = {row[2]: row for row in ledger.store.stream_records(pid)}
    found = []
    for version in versions:
        n, originator, v, topic, state = stored[version]
        index = leaf_index(runs, n)
        leaf = leaf_bytes(n, originator, v, topic, state)
        found.append({"leaf_index": index, "leaf": base64.b64encode(leaf).decode(),
                      "inclusion": [base64.b64encode(h).decode() for h in log.tree.inclusion(index, checkpoint.size)]})
    return checkpoint.note, found
