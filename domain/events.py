"""The ledger's facts. Each is an immutable msgspec Struct, stored as JSON by domain/store.py.

Every event carries when it was recorded (system time, UTC), when it took effect in the world
(business time), who recorded it (actor name and role) and at which collection point. A mistake is
never edited: a later event references the version it corrects.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar
from uuid import UUID

import msgspec


class Event(msgspec.Struct, frozen=True, kw_only=True):
    originator_id: UUID
    originator_version: int
    recorded_at: datetime
    effective_at: datetime
    actor: str
    role: str
    collection_point: str | None = None

    # A "world" event happened on its effective date, so a question "as of date D" leaves it out
    # when it took effect after D. Registrations and corrections restate the record itself.
    world_event: ClassVar[bool] = True


# -- the person's stream (one consistency boundary per person) ---------------------------------


class PersonRegistered(Event, frozen=True, kw_only=True):
    """参保登记 of the person: who they are and where they belong."""

    world_event: ClassVar[bool] = False
    document_type: str
    id_number: str
    name: str
    sex: str
    birth_date: date
    region: str
    hukou_registered_on: date | None = None
    mother_id_number: str | None = None
    father_id_number: str | None = None


class RegistrationCorrected(Event, frozen=True, kw_only=True):
    """A correction of the registration (name, region, household registration date, parents; the
    birth date where the document does not carry it)."""

    world_event: ClassVar[bool] = False
    corrects: int
    reason: str
    name: str | None = None
    region: str | None = None
    hukou_registered_on: date | None = None
    mother_id_number: str | None = None
    father_id_number: str | None = None
    birth_date: date | None = None


class IdentityCertified(Event, frozen=True, kw_only=True):
    """An identity category (身份属性) certified by a department from `effective_on`."""

    category: str
    effective_on: date
    department: str | None = None
    reference: str | None = None


class IdentityRetracted(Event, frozen=True, kw_only=True):
    """A certification recorded in error (录入错误): the category was never held. It names the
    certification it corrects; what was decided on it is decided again."""

    world_event: ClassVar[bool] = False
    corrects: int
    category: str
    reason: str


class IdentityEnded(Event, frozen=True, kw_only=True):
    """An identity category no longer held from `effective_on`."""

    category: str
    effective_on: date
    department: str | None = None
    reference: str | None = None


class Enrolled(Event, frozen=True, kw_only=True):
    """参保: enrollment for a coverage year, tier and cohort under a policy."""

    year: int
    tier: int
    cohort: str
    enrolled_on: date
    policy_id: str
    fee_waived: str | None = None  # why nothing is payable (004's newborns of enrolled parents)
    fee_waiver_undetermined: str | None = None  # a waiver may apply, but a condition is not known
    school: str | None = None  # a student's school (高校), where the student price requires one


class FeeWaiverDecided(Event, frozen=True, kw_only=True):
    """A newborn's fee waiver decided again, when a fact it rests on became known after enrollment
    (the birth certified as complying, a parent paid, a parent named by a correction). Effective on
    the day its last condition was met, which is the day the year is fully paid."""

    year: int
    fee_waived: str | None = None
    fee_waiver_undetermined: str | None = None


class ChildRecorded(Event, frozen=True, kw_only=True):
    """On a parent's stream: a newborn whose fee waiver rests on this parent's enrollment for `year`,
    so that the parent's payment decides it again."""

    world_event: ClassVar[bool] = False
    child_id: UUID
    year: int


class TierChanged(Event, frozen=True, kw_only=True):
    year: int
    tier: int
    previous_tier: int


class Candidate(msgspec.Struct, frozen=True):
    category: str
    amount_fen: int


class SubsidyGranted(Event, frozen=True, kw_only=True):
    """资助参保: the subsidy decision with its reasons, so it never has to be recomputed."""

    year: int
    tier: int
    category: str
    amount_fen: int
    funder: str
    granted_on: date
    candidates: list[Candidate]
    rule: str
    undetermined: str | None = None  # the amount is set outside the notice (then amount_fen is 0)


class PaymentRecorded(Event, frozen=True, kw_only=True):
    """缴费: one contribution payment. Partial payments add up."""

    year: int
    payment_id: str
    amount_fen: int
    paid_at: datetime
    channel: str
    receipt_no: str | None = None
    transaction_id: str | None = None
    idempotency_key: str | None = None
    # 修复: a payment for a missed year (断保年度) made with this year's enrollment; it shortens the
    # waiting period and is not part of this year's contribution.
    repair_year: int | None = None
    # Moved here from the person and year it was posted to in error (with the reason).
    moved_from: str | None = None


class PaymentVoided(Event, frozen=True, kw_only=True):
    """A payment posted in error, voided by the bureau; it references the event it corrects."""

    world_event: ClassVar[bool] = False
    year: int
    payment_id: str
    corrects: int
    reason: str


class CoverageElsewhereRecorded(Event, frozen=True, kw_only=True):
    """Cover the ledger did not record itself (参保信息, e.g. from the national 全民参保 database): the
    employee scheme (职工医保) or the resident scheme of another 统筹区, and years before the ledger
    held the person. A fact of the person with its dates and source (「不得重复参保」)."""

    scheme: str  # "employee" | "resident"
    region: str  # the 统筹区 (administrative division code) where it is held
    from_on: date
    to_on: date | None  # None while it continues
    source: str
    evidence: str | None = None  # 参保缴费凭证 or the extract's reference


class ClaimsYearRecorded(Event, frozen=True, kw_only=True):
    """A coverage year's claims as the claims system reports them: whether the fund reimbursed
    anything (零报销 when not) and whether the 大病保险 reward was used (使用奖励额度)."""

    year: int
    reimbursed: bool
    reward_used: bool
    source: str


class EnrollmentCancelled(Event, frozen=True, kw_only=True):
    """End of an enrollment (death, duplicate, employee insurance, moved) with the refund decided."""

    year: int
    reason: str
    effective_on: date
    refund_fen: int
    refund_rule: str


class PersonLeft(Event, frozen=True, kw_only=True):
    """The person left the roll of this 统筹区 on `left_on`: died (死亡, 户籍注销), moved away (迁出),
    or joined the employee scheme (参加职工医保), with the source that says so. Cover ends after that
    day; from then on the person is no longer to be enrolled (not 应保未保)."""

    reason: str
    left_on: date
    source: str


# -- claims: streams of one event whose existence makes a retry impossible to post twice -------


class IdempotencyKeyClaimed(Event, frozen=True, kw_only=True):
    """A collection point's Idempotency-Key, claimed in the same transaction as the payment."""

    key: str
    fingerprint: str
    person_id: UUID
    payment_id: str
    person_version: int


class TransactionIdClaimed(Event, frozen=True, kw_only=True):
    """缴费流水号: the channel's own transaction number, unique across the ledger."""

    transaction_id: str
    person_id: UUID
    payment_id: str
    person_version: int


# -- reference data ----------------------------------------------------------------------------


class TargetRowLoaded(msgspec.Struct, frozen=True):
    code: str
    name: str
    population: int
    target: int


class TargetTableLoaded(Event, frozen=True, kw_only=True):
    """任务分配表: a target table loaded by an operator (`ledger targets load`), one stream per
    region and year; loading again appends a version, and a report known at T uses the one loaded by T."""

    world_event: ClassVar[bool] = False
    region: str
    year: int
    source: str  # the file's name, for the auditor
    rows: list[TargetRowLoaded]
    printed_population: int | None = None
    printed_target: int | None = None
    warnings: list[str] = []


class PolicyLoaded(Event, frozen=True, kw_only=True):
    """A policy file loaded by an operator (`ledger policy load`, or the admin API): version n of
    its region and year, with the notice it comes from. All loads are one stream, in order; a
    question "as known at T" uses the version loaded by T."""

    world_event: ClassVar[bool] = False
    policy_id: str
    version: int
    notice_number: str  # 文号
    notice_date: date
    file_name: str
    document: str  # the file's text, exactly as loaded
    sha256: str
