"""Contributions (缴费): pay, with its idempotency key and the channel's transaction id, move a
payment posted to the wrong person or year, void one posted in error."""

from __future__ import annotations

import secrets
from datetime import datetime
from uuid import UUID

from domain import events as ev
from domain.actor import Actor
from domain.coverage import enrollment_view
from domain.dates import china_date
from domain.errors import Conflict, InvalidInput, NotFound, RefusedByRule
from domain.idnumber import mask
from domain.money import parse_yuan, yuan
from domain.owed import outstanding_fen
from domain.person import Person, claim_id
from domain.plausible import CLOCK_SKEW, not_before, within_season
from domain.policy import policy_by_id
from domain.rules import (
    check_payment_date,
    check_repair,
    payment_season,
)
from domain.text import clean_text, optional_text
from domain.unit_of_work import AlreadyRecorded, Fen, PaymentResult, UnitOfWork

CHANNELS = ("wechat", "alipay", "pos", "bank", "tax_hall", "cash", "app")


class PaymentCommands:
    """Commands about payments, run by the ledger's unit of work (domain/ledger.py)."""

    def pay(
        self,
        actor: Actor,
        *,
        id_number: str,
        year: int,
        amount: object,
        paid_at: datetime,
        channel: str,
        receipt_no: str | None = None,
        transaction_id: str | None = None,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        document_type: str = "resident_id",
        with_view: bool = True,
        repair_year: int | None = None,
    ) -> PaymentResult:
        """缴费. With an idempotency key, a retry returns the first result and posts nothing."""
        amount_fen, receipt_no, transaction_id = self.payment_input(amount, paid_at, channel, receipt_no,
                                                                    transaction_id)
        pid, key_claim, txn_claim = self.payment_streams(actor, id_number, document_type, idempotency_key,
                                                         transaction_id)

        def decide(uow: UnitOfWork) -> PaymentResult:
            # The person and the claims in one read (the hot path of every collection point);
            # a batch has usually read them already.
            if pid not in uow.people:
                uow.prefetch([pid], [c for c in (key_claim, txn_claim) if c is not None])
            if key_claim is not None:
                claimed = uow.claim(key_claim)
                if claimed is not None:
                    if claimed.fingerprint != fingerprint:
                        raise RefusedByRule(
                            "this Idempotency-Key was already used for a different payment; use a new key",
                            "Idempotency-Key",
                            "idempotency_key_reused",
                        )
                    return PaymentResult(claimed.payment_id, claimed.person_id, claimed.person_version, True)
            if txn_claim is not None:
                claimed = uow.claim(txn_claim)
                if claimed is not None:
                    raise AlreadyRecorded(
                        f"transaction {transaction_id} is already recorded as payment {claimed.payment_id}",
                        claimed.payment_id,
                        claimed.person_id,
                    )
            person = self._registered(uow, id_number, document_type, serving=True)
            self._payable(person, year, amount_fen, paid_at, channel, repair_year)
            payment_id = secrets.token_hex(16)
            uow.emit(
                person,
                ev.PaymentRecorded,
                paid_at,
                year=year,
                payment_id=payment_id,
                amount_fen=amount_fen,
                paid_at=paid_at,
                channel=channel,
                receipt_no=receipt_no,
                transaction_id=transaction_id,
                idempotency_key=idempotency_key,
                repair_year=repair_year,
            )
            if key_claim is not None:
                uow.emit_claim(
                    key_claim, ev.IdempotencyKeyClaimed, key=idempotency_key, fingerprint=fingerprint,
                    person_id=person.id, payment_id=payment_id, person_version=person.version,
                )
            if txn_claim is not None:
                uow.emit_claim(
                    txn_claim, ev.TransactionIdClaimed, transaction_id=transaction_id,
                    person_id=person.id, payment_id=payment_id, person_version=person.version,
                )
            if repair_year is None:
                self._decide_waivers_resting_on(uow, person, year)
            view = enrollment_view(person, year) if with_view else None
            return PaymentResult(payment_id, person.id, person.version, False, view)

        return self._run(actor, decide)

    def payment_input(self, amount: object, paid_at: datetime, channel: str, receipt_no: str | None,
                      transaction_id: str | None) -> tuple[int, str | None, str | None]:
        """The payment's own fields checked, before anything is read: the amount in fen, the
        receipt and transaction numbers cleaned. Refuses what no person's record could make right."""
        # A Fen is an amount the caller parsed and checked already (the daily file does).
        amount_fen = amount.fen if isinstance(amount, Fen) else parse_yuan(amount)
        if not isinstance(paid_at, datetime) or paid_at.tzinfo is None:
            raise InvalidInput("must be a date-time with an offset, like 2021-02-15T10:00:00+08:00", "paid_at", "datetime_offset")
        if paid_at > self.clock() + CLOCK_SKEW:
            raise InvalidInput(f"{paid_at.isoformat()} is in the future: check the terminal's clock", "paid_at",
                               "date_range")
        if channel not in CHANNELS:
            raise InvalidInput(f"must be one of {', '.join(CHANNELS)}", "channel", "channel")
        receipt_no = optional_text(receipt_no, "receipt_no")
        if channel == "cash" and receipt_no is None:
            raise InvalidInput("is required for cash: a cash payment gets a receipt (现金收款凭证)", "receipt_no", "cash_receipt")
        if transaction_id is not None:
            transaction_id = clean_text(transaction_id, "transaction_id")
        return amount_fen, receipt_no, transaction_id

    def payment_streams(self, actor: Actor, id_number: str, document_type: str, idempotency_key: str | None,
                        transaction_id: str | None) -> tuple[UUID, UUID | None, UUID | None]:
        """The streams a payment reads: the person's, and its idempotency key's and transaction
        id's claims (None where it has none); a caller may read them ahead, several payments' in one query."""
        pid = self._pid(id_number, document_type)
        # Keys are scoped to the collection point (to the token where it speaks for none).
        scope = actor.collection_point or f"token:{actor.name}"
        key_claim = claim_id("idempotency", scope, idempotency_key) if idempotency_key else None
        txn_claim = claim_id("transaction", clean_text(transaction_id, "transaction_id")) if transaction_id else None
        return pid, key_claim, txn_claim

    @staticmethod
    def _payable(person: Person, year: int, amount_fen: int, paid_at: datetime, channel: str,
                 repair_year: int | None) -> None:
        """Refuses a payment the person's enrollment cannot take: not enrolled, cancelled, a channel or
        a date the policy refuses, more than is outstanding."""
        enrollment = person.enrollments.get(year)
        if enrollment is None:
            raise Conflict(f"the person is not enrolled for {year}: enroll first", "year", "enrolled")
        if enrollment.cancellation is not None:
            raise Conflict(f"the {year} enrollment was cancelled", "year", "cancelled")
        policy = policy_by_id(enrollment.policy_id)
        if channel == "cash" and policy.collection.cash == "refused":
            raise RefusedByRule(f"policy {policy.id} takes no cash ({policy.collection.cash_source})", "channel",
                                "cash_refused")
        paid_on = china_date(paid_at)
        not_before(paid_on, person.birth_date, "paid_at", "the person's birth")
        within_season(paid_on, *payment_season(policy, enrollment.cohort), "paid_at", policy.id)
        if repair_year is not None:
            check_repair(policy, person, enrollment, repair_year, amount_fen)
            return
        check_payment_date(policy, enrollment.cohort, paid_on)
        outstanding = outstanding_fen(enrollment, paid_on)
        if outstanding == 0:
            raise RefusedByRule(f"nothing is outstanding for {year}: already fully paid", "amount", "over_payment")
        if amount_fen > outstanding:
            raise RefusedByRule(f"{yuan(amount_fen)} is more than the outstanding {yuan(outstanding)}", "amount",
                                "over_payment")

    def move_payment(
        self, actor: Actor, *, id_number: str, payment_id: str, reason: str, to_id_number: str | None = None,
        to_year: int | None = None, document_type: str = "resident_id", to_document_type: str = "resident_id",
    ) -> tuple[Person, str, int, int]:
        """A payment posted to the wrong person or year: voided where it is and recorded where it
        belongs, in one transaction, with its day, amount, channel, receipt and collection point, and
        the target's rules checked as for any payment. Returns the target, the new payment id, its
        year, and the year it was posted to."""
        reason = clean_text(reason, "reason")
        if to_id_number is None and to_year is None:
            raise InvalidInput("name where the payment belongs: to_id_number, to_year or both", "to_year", "move_target")
        if to_year is not None and (not isinstance(to_year, int) or not 2000 <= to_year <= 2100):
            raise InvalidInput("must be a coverage year such as 2021", "to_year", "year")

        def decide(uow: UnitOfWork) -> tuple[Person, str, int, int]:
            person = self._registered(uow, id_number, document_type)
            found = [(y, e.payments[payment_id]) for y, e in person.enrollments.items() if payment_id in e.payments]
            if not found:
                voided = [v for e in person.enrollments.values() for v in e.voided if v.payment_id == payment_id]
                if voided:
                    raise Conflict(f"payment {payment_id} is voided already: {voided[0].reason}", "payment_id",
                                   "payment_voided")
                raise NotFound(f"no payment {payment_id} of this year's contribution is recorded for this person",
                               "payment_id", "payment_exists")
            year, payment = found[0]
            target = self._registered(uow, to_id_number, to_document_type, serving=True) if to_id_number else person
            target_year = to_year if to_year is not None else year
            if target.id == person.id and target_year == year:
                raise InvalidInput("is where the payment is already", "to_year" if to_year else "to_id_number",
                                   "move_target")
            where = f"{mask(target.id_number)} for {target_year}"
            uow.emit(person, ev.PaymentVoided, self.clock(), year=year, payment_id=payment_id,
                     corrects=payment.originator_version, reason=f"moved to {where}: {reason}")
            self._payable(target, target_year, payment.amount_fen, payment.paid_at, payment.channel, None)
            new_id = secrets.token_hex(16)
            uow.emit(target, ev.PaymentRecorded, payment.paid_at, year=target_year, payment_id=new_id,
                     amount_fen=payment.amount_fen, paid_at=payment.paid_at, channel=payment.channel,
                     receipt_no=payment.receipt_no, transaction_id=payment.transaction_id,
                     collection_point=payment.collection_point,
                     moved_from=f"{mask(person.id_number)} for {year}, payment {payment_id}: {reason}")
            self._decide_waivers_resting_on(uow, target, target_year)
            return target, new_id, target_year, year

        return self._run(actor, decide)

    def void_payment(
        self, actor: Actor, *, id_number: str, payment_id: str, reason: str, year: int | None = None,
        document_type: str = "resident_id",
    ) -> int:
        """A correction: the payment was posted in error. The original event stays; this references it.

        Returns the coverage year the payment belonged to."""
        reason = clean_text(reason, "reason")

        def decide(uow: UnitOfWork) -> int:
            person = self._registered(uow, id_number, document_type)
            found = [
                (y, e.payments.get(payment_id) or e.repairs[payment_id])
                for y, e in person.enrollments.items()
                if (payment_id in e.payments or payment_id in e.repairs) and (year is None or y == year)
            ]
            if not found:
                raise NotFound(f"no payment {payment_id} is recorded for this person", "payment_id", "payment_exists")
            paid_year, payment = found[0]
            uow.emit(
                person, ev.PaymentVoided, self.clock(), year=paid_year, payment_id=payment_id,
                corrects=payment.originator_version, reason=reason,
            )
            return paid_year

        return self._run(actor, decide)
