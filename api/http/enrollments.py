"""Enrollments and payments: enroll, pay (idempotent), cancel, void, move."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Header, Request, Response
from starlette.concurrency import run_in_threadpool

from api import problems
from api.http.deps import BUREAU, WRITERS, TheLedger, Who, allow
from api.schemas import (
    Cancel, DocumentType, Enroll, EnrollmentOut, MovedPaymentOut, MovePayment, Pay, PaymentOut, VoidPayment,
)
from api.state import writer_of
from domain.errors import InvalidInput

router = APIRouter()
responses = problems.PROBLEM_RESPONSES
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


@router.post("/v1/enrollments", status_code=201, response_model=EnrollmentOut, tags=["writes"],
             responses={200: {"model": EnrollmentOut, "description": "already enrolled so, unchanged"},
                        **{s: responses[s] for s in (403, 404, 409, 413, 422)}})
def enroll(body: Enroll, who: Who, ledger: TheLedger, response: Response) -> dict[str, Any]:
    """Enroll a person for a coverage year (or change the tier before anything is paid)."""
    allow(who, WRITERS, "enroll persons")
    _, outcome = ledger.enroll(who.actor, **body.model_dump())
    response.status_code = 200 if outcome == "unchanged" else 201
    return ledger.coverage(body.id_number, body.year, document_type=body.document_type).to_api()


@router.post("/v1/payments", status_code=201, response_model=PaymentOut, tags=["writes"],
             responses={201: {"description": "recorded; on a replay the first answer, with Idempotent-Replayed: true"},
                        **{s: responses[s] for s in (403, 404, 409, 413, 422)}})
async def pay(body: Pay, who: Who, ledger: TheLedger, request: Request, idempotency_key: Annotated[str | None, Header(
        description="1-255 printable characters, scoped to the caller's collection point")] = None) -> Response:
    """Record a contribution payment. Retried with the same Idempotency-Key, it posts once."""
    allow(who, WRITERS, "record payments")
    if idempotency_key is None or not _KEY.fullmatch(idempotency_key):
        raise InvalidInput("is required: 1 to 255 printable characters", "Idempotency-Key", "idempotency_key")
    data = body.model_dump()
    # An ordinary payment's fingerprint leaves out the fields it has by default (no repair, a
    # resident identity number), as it was before they existed: a retry across an upgrade still matches.
    left_out = {"repair_year"} if body.repair_year is None else set()
    if body.document_type == "resident_id":
        left_out.add("document_type")
    signed = body.model_dump(mode="json", exclude=left_out)
    fingerprint = hashlib.sha256(json.dumps(signed, sort_keys=True).encode()).hexdigest()
    # Bad input is refused here, before anything is read (the payment checks it again, as every caller's).
    ledger.payment_input(body.amount, body.paid_at, body.channel, body.receipt_no, body.transaction_id)
    reads = ledger.payment_streams(who.actor, body.id_number, body.document_type, idempotency_key, body.transaction_id)
    result = await writer_of(request).run(
        lambda: ledger.pay(who.actor, idempotency_key=idempotency_key, fingerprint=fingerprint, **data), reads)
    # A replay answers as the ledger did right after the first request's events.
    view = result.view or await run_in_threadpool(ledger.coverage_at_version, result.person_id, body.year,
                                                  result.person_version)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
    answer = msgspec.json.encode({"payment_id": result.payment_id, "enrollment": view.to_api()})
    return Response(answer, 201, headers=headers, media_type="application/json")


@router.post("/v1/enrollments/{id_number}/{year}/cancel", status_code=201, response_model=EnrollmentOut,
             tags=["writes"], responses={s: responses[s] for s in (403, 404, 409, 413, 422)})
def cancel(id_number: str, year: int, body: Cancel, who: Who, ledger: TheLedger,
           document_type: DocumentType = "resident_id") -> dict[str, Any]:
    """End an enrollment (bureau); the refund is decided by the policy."""
    allow(who, BUREAU, "cancel enrollments")
    ledger.cancel(who.actor, id_number=id_number, year=year, document_type=document_type, **body.model_dump())
    return ledger.coverage(id_number, year, document_type=document_type).to_api()


@router.post("/v1/persons/{id_number}/payments/{payment_id}/void", status_code=201, response_model=EnrollmentOut,
             tags=["writes"], responses={s: responses[s] for s in (403, 404, 413)})
def void(id_number: str, payment_id: str, body: VoidPayment, who: Who, ledger: TheLedger,
         document_type: DocumentType = "resident_id") -> dict[str, Any]:
    """Correct a payment posted in error (bureau). The original event stays; the correction references it."""
    allow(who, BUREAU, "correct payments")
    year = ledger.void_payment(who.actor, id_number=id_number, payment_id=payment_id, reason=body.reason,
                               document_type=document_type)
    return ledger.coverage(id_number, year, document_type=document_type).to_api()


@router.post("/v1/persons/{id_number}/payments/{payment_id}/move", status_code=201, response_model=MovedPaymentOut,
             tags=["writes"], responses={s: responses[s] for s in (403, 404, 409, 413, 422)})
def move(id_number: str, payment_id: str, body: MovePayment, who: Who, ledger: TheLedger,
         document_type: DocumentType = "resident_id") -> dict[str, Any]:
    """Move a payment posted to the wrong person or year (bureau): voided where it is, recorded where
    it belongs with its day, channel, receipt and collection point, in one transaction."""
    allow(who, BUREAU, "correct payments")
    target, new_id, target_year, year = ledger.move_payment(who.actor, id_number=id_number, payment_id=payment_id,
                                                            document_type=document_type, **body.model_dump())
    moved = target.enrollments[target_year].payments[new_id]
    assert moved.moved_from is not None
    return {"payment_id": new_id, "moved_from": moved.moved_from,
            "enrollment": ledger.coverage_of(target, target_year).to_api(),
            "left_behind": ledger.coverage(id_number, year, document_type=document_type).to_api()}
