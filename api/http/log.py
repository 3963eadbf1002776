"""The verifiable log (auditor, admin): signed checkpoints, the verifier key, inclusion and
consistency proofs, and the leaves themselves. The format: docs/verifiable-log.md."""

from __future__ import annotations

import base64
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse

from api import problems
from api.http.deps import Who, allow
from api.state import log_of
from domain.errors import Forbidden, InvalidInput, NotFound
from projections.tlog import VerifiableLog
from projections.witnesses import cosigned_note

router = APIRouter(prefix="/v1/log", tags=["log"])
responses = {s: problems.PROBLEM_RESPONSES[s] for s in (400, 403, 404)}
AUDITORS = ("auditor", "admin")
ENTRIES_PAGE = 1000
# A position the store can hold (a signed 64-bit integer); a larger one is a 422 naming the parameter.
MAX_POSITION = 2**63 - 1


def b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


def _size(log: VerifiableLog, size: int, field: str) -> int:
    have = log.size()
    if size > have:
        raise InvalidInput(f"is {size}, but the tree holds {have} leaves", field, "within_tree")
    return size


@router.get("/checkpoint", response_class=PlainTextResponse, responses=responses)
def checkpoint(request: Request, who: Who,
               size: Annotated[int | None, Query(ge=1, le=MAX_POSITION)] = None) -> PlainTextResponse:
    """The latest signed checkpoint (C2SP signed note), or the kept one of `size`, with the
    cosignatures of the witnesses that checked it (C2SP tlog-cosignature)."""
    allow(who, AUDITORS, "read the log's checkpoints")
    log = log_of(request)
    found = log.tables.checkpoint(size) if size is not None else (log.tables.checkpoint() or log.checkpoint())
    if found is None:
        raise NotFound(f"no checkpoint was made at size {size}", "size", "checkpoint_exists")
    return PlainTextResponse(cosigned_note(log, found))


@router.get("/key", response_class=PlainTextResponse, responses=responses)
def key(request: Request, who: Who) -> PlainTextResponse:
    """The verifier key: name+key id+base64(0x01 || Ed25519 public key)."""
    allow(who, AUDITORS, "read the log's key")
    return PlainTextResponse(log_of(request).signer.verifier_key() + "\n")


@router.get("/proof/inclusion", responses=responses)
def inclusion(request: Request, who: Who, index: Annotated[int, Query(ge=0, le=MAX_POSITION)],
              size: Annotated[int, Query(ge=1, le=MAX_POSITION)]) -> dict[str, Any]:
    """RFC 9162 inclusion proof of leaf `index` in the tree of `size` leaves."""
    allow(who, AUDITORS, "read log proofs")
    log = log_of(request)
    _size(log, size, "size")
    if index >= size:
        raise InvalidInput(f"must be below size ({size})", "index", "within_tree")
    return {"index": index, "size": size, "hashes": b64(log.tree.inclusion(index, size))}


@router.get("/proof/consistency", responses=responses)
def consistency(request: Request, who: Who, from_: Annotated[int, Query(alias="from", ge=1, le=MAX_POSITION)],
                to: Annotated[int, Query(ge=1, le=MAX_POSITION)]) -> dict[str, Any]:
    """RFC 9162 consistency proof between the trees of `from` and `to` leaves."""
    allow(who, AUDITORS, "read log proofs")
    log = log_of(request)
    _size(log, to, "to")
    if from_ > to:
        raise InvalidInput(f"must not be above to ({to})", "from", "from_not_above_to")
    return {"from": from_, "to": to, "hashes": b64(log.tree.consistency(from_, to))}


@router.get("/entries", responses=responses)
def entries(request: Request, who: Who, start: Annotated[int, Query(ge=0, le=MAX_POSITION)],
            end: Annotated[int, Query(ge=1, le=MAX_POSITION)]) -> dict[str, Any]:
    """Leaf bytes of leaves [start, end), at most 1,000 (unscoped auditors and admins: they hold
    personal data)."""
    allow(who, AUDITORS, "read log entries")
    if who.regions:
        raise Forbidden("log entries hold every region's personal data: a token limited to regions may not read"
                        " them", None, "unscoped")
    log = log_of(request)
    if end <= start:
        raise InvalidInput(f"must be above start ({start})", "end", "end_above_start")
    if end - start > ENTRIES_PAGE:
        raise InvalidInput(f"asks for {end - start} entries: at most {ENTRIES_PAGE} a page", "end", "page_size")
    _size(log, end, "end")
    return {"entries": [base64.b64encode(leaf).decode() for leaf in log.entries(start, end)]}
