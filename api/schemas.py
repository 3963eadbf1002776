"""Request and response shapes of API v1 (../shared/API.md), as they appear in /openapi.json.

Shapes only: the rules (identity numbers, money, dates against policies) are checked by the
domain, which names the field and the rule when it refuses.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictFloat, StrictInt,
                      StrictStr)

Money = StrictStr | StrictInt | StrictFloat

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def _day_text(value: object) -> object:
    """A date is the text YYYY-MM-DD, not a number of seconds or days."""
    if isinstance(value, str) and _DAY.fullmatch(value):
        return value
    raise ValueError("must be a date written YYYY-MM-DD, like 2021-02-15")


def _moment_text(value: object) -> object:
    """A date-time is RFC 3339 text with an offset (API.md), never a Unix timestamp."""
    if isinstance(value, str) and _MOMENT.fullmatch(value):
        return value
    raise ValueError("must be an RFC 3339 date-time with an offset, like 2021-02-15T10:00:00+08:00")


Day = Annotated[date, BeforeValidator(_day_text)]
Moment = Annotated[AwareDatetime, BeforeValidator(_moment_text)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


DocumentType = Literal["resident_id", "hk_macao_pass", "taiwan_pass", "foreign_permanent_residence"]


class RegisterPerson(Strict):
    id_number: StrictStr = Field(description="GB 11643 resident identity number, or the document's number")
    name: StrictStr
    region: StrictStr = Field(description="12-digit village code")
    document_type: DocumentType = "resident_id"
    hukou_registered_on: Day | None = Field(None, description="household registration (落户) date")
    mother_id_number: StrictStr | None = None
    father_id_number: StrictStr | None = None
    birth_date: Day | None = Field(None, description="required for documents other than resident_id")
    sex: Literal["male", "female"] | None = Field(None, description="required for documents other than resident_id")


class PersonOut(BaseModel):
    id_number: str
    document_type: str
    name: str
    sex: str
    birth_date: date
    region: str


class Correction(Strict):
    reason: StrictStr = Field(description="why the registration is corrected, for the auditor")
    name: StrictStr | None = None
    region: StrictStr | None = Field(None, description="12-digit village code")
    hukou_registered_on: Day | None = Field(None, description="household registration (落户) date")
    mother_id_number: StrictStr | None = None
    father_id_number: StrictStr | None = None
    birth_date: Day | None = Field(None, description="for a permit (港澳、台湾通行证, 外国人永居证): the birth date"
                                   " it prints (a resident identity number carries its own)")



class IdentityRetraction(Strict):
    category: StrictStr = Field(
        description="category code or Chinese name (SPEC.md): its latest certification is retracted")
    reason: StrictStr = Field(description="why the certification was recorded in error, for the auditor")


class IdentityChange(Strict):
    category: StrictStr = Field(description="category code or Chinese name (SPEC.md)")
    action: Literal["certify", "end"]
    effective_on: Day
    department: StrictStr | None = None
    reference: StrictStr | None = None


class CoverageElsewhere(Strict):
    """Cover held elsewhere, or before the ledger held the person (参保信息 from another system)."""

    scheme: Literal["employee", "resident"] = Field(description="employee: 职工医保; resident: 城乡居民医保")
    region: StrictStr = Field(description="the 统筹区 where it is held: its 6-, 9- or 12-digit division code")
    from_: Day = Field(alias="from", description="first day of the cover")
    to: Day | None = Field(None, description="last day of the cover; leave it out while it continues")
    source: StrictStr = Field(description="where the fact comes from, e.g. the national 全民参保 database extract")
    evidence: StrictStr | None = Field(None, description="参保缴费凭证 or the extract's reference")


class CoverageElsewhereHeld(BaseModel):
    scheme: str
    region: str
    from_: date = Field(serialization_alias="from")
    to: date | None
    source: str
    evidence: str | None
    recorded_at: str


class CoverageElsewhereOut(BaseModel):
    id_number: str
    coverage_elsewhere: list[CoverageElsewhereHeld]


class CategoryHeld(BaseModel):
    category: str
    name: str
    since: date
    department: str | None


class CategoriesOut(BaseModel):
    id_number: str
    categories: list[CategoryHeld]


class Enroll(Strict):
    id_number: StrictStr
    year: StrictInt
    tier: StrictInt = Field(description="1 or 2; 1 where the policy has one level")
    cohort: Literal["resident", "student", "newborn", "graduate", "veteran"] = Field(
        "resident", description="graduate (大学毕业生) and veteran (退伍军人) pay as residents")
    enrolled_on: Day | None = Field(None, description="default: today")
    school: StrictStr | None = Field(None, description="a student's school (高校), where the policy's student price"
                                                      " requires it")
    document_type: DocumentType = Field("resident_id", description="the document id_number is of")


class Pay(Strict):
    id_number: StrictStr
    year: StrictInt
    amount: Money = Field(description='yuan, a string or a number with at most two decimals: "280.00"')
    paid_at: Moment = Field(description="RFC 3339 with an offset")
    channel: Literal["wechat", "alipay", "pos", "bank", "tax_hall", "cash", "app"]
    receipt_no: StrictStr | None = Field(None, description="required for cash")
    transaction_id: StrictStr | None = Field(None, description="the channel's own transaction number (缴费流水号)")
    repair_year: StrictInt | None = Field(None, description="修复: the missed year this payment repairs, with the"
                                          " enrollment of `year`; the amount is `year`'s individual contribution")
    document_type: DocumentType = Field("resident_id", description="the document id_number is of")


class ClaimsYear(Strict):
    year: StrictInt
    reimbursed: StrictBool = Field(description="the fund reimbursed something in the year (false: 零报销)")
    reward_used: StrictBool = Field(False, description="a 大病保险 reimbursement used the incentive (使用奖励额度)")
    source: StrictStr = Field(description="where the fact comes from, e.g. the claims system's extract")


class ClaimsYearOut(BaseModel):
    id_number: str
    claims: list[ClaimsYear]


class Cancel(Strict):
    reason: Literal["death", "duplicate", "employee_insurance", "moved"]
    effective_on: Day


class Departure(Strict):
    reason: Literal["death", "moved", "employee_insurance"] = Field(
        description="死亡 (death), 迁出 (moved away), 参加职工医保 (joined the employee scheme)")
    left_on: Day = Field(description="the day of death or of leaving: cover ends after it")
    source: StrictStr = Field(description="what says so: 户籍注销 record, death certificate, transfer notice")


class MovePayment(Strict):
    reason: StrictStr = Field(description="why the payment is moved (posted to the wrong person or year)")
    to_id_number: StrictStr | None = Field(None, description="the person it belongs to (default: the same)")
    to_year: int | None = Field(None, description="the coverage year it belongs to (default: the same)")
    to_document_type: DocumentType = Field("resident_id", description="the document to_id_number is of")


class VoidPayment(Strict):
    reason: StrictStr = Field(description="why the payment is corrected (posted in error)")


class SubsidyOut(BaseModel):
    amount: str
    category: str
    funder: str
    granted_on: str


class WaitingPeriodOut(BaseModel):
    fixed_months: int
    variable_months: int
    anchor: Literal["year_start", "payment_month", "next_month", "same_day"]
    gap_years: int
    repaired_years: int


class CriticalIllnessOut(BaseModel):
    base_limit: str | None
    continuous_years: int
    zero_claim_years: int
    increase: str | None
    limit: str | None
    undetermined_because: str | None


class EnrollmentOut(BaseModel):
    id_number: str
    year: int
    tier: int | None
    cohort: str | None
    policy: str | None
    status: Literal["not_enrolled", "enrolled", "partially_paid", "paid", "cancelled"]
    contribution: str
    subsidy: SubsidyOut | None
    individual_payable: str
    paid: str
    outstanding: str
    fully_paid_on: str | None
    benefit_start: str | None
    benefit_end: str | None
    refund: str
    waiting_period: WaitingPeriodOut | None = Field(None, description="the continuity rules' waiting period "
                                                    "(国办发〔2024〕38号), when one applies")
    critical_illness: CriticalIllnessOut | None = Field(None, description="the 大病保险 annual limit with the "
                                                        "continuity incentives, where the policy states them")
    coverage_status: Literal["covered", "not_covered", "undetermined"] = Field(
        description="on the date `on` when asked with one, else for the year; undetermined is never not covered")
    undetermined_because: str | None = Field(description="the missing rule or condition, when undetermined")
    covered_through: str | None = Field(None, description="not enrolled, covered through another person's "
                                                          "enrollment: a newborn through its mother (003)")
    explanation: list[str]


class CoverageOut(EnrollmentOut):
    covered_on: bool | None = Field(None, description="for the date `on`: true, false, or null when undetermined "
                                                      "(and when no `on` is given)")


class PaymentOut(BaseModel):
    payment_id: str
    enrollment: EnrollmentOut


class HistoryEvent(BaseModel):
    position: int = Field(description="the event's position in the person's stream")
    type: str
    recorded_at: str
    effective: str
    actor: str
    role: str
    collection_point: str | None
    data: dict
    leaf_index: int | None = Field(None, description="with_proofs: the event's leaf in the verifiable log")
    leaf: str | None = Field(None, description="with_proofs: the leaf bytes, base64 (docs/verifiable-log.md)")
    inclusion: list[str] | None = Field(None, description="with_proofs: RFC 9162 inclusion proof against `checkpoint`")


class HistoryOut(BaseModel):
    events: list[HistoryEvent]
    checkpoint: str | None = Field(None, description="with_proofs: the signed checkpoint the proofs lead to")


class EnrollmentRow(BaseModel):
    region: str
    name: str
    population: int | None
    target: int | None
    enrolled: int = Field(description="enrolled for the year and not cancelled (参保), paid or not")
    paid: int = Field(description="enrolled and fully paid, or subsidised in full (参保缴费)")
    enrolled_unpaid: int = Field(description="enrolled, not (yet) fully paid: enrolled - paid")
    covered: int = Field(description="inside their benefit period on the report's date")
    undetermined: int = Field(description="no rule settles them (the two kinds below): not counted as not covered")
    coverage_undetermined: int = Field(description="paid, but no rule settles when cover starts")
    payable_undetermined: int = Field(description="not yet paid, and what is owed is unknown (a 据实 subsidy, a waiver)")
    assisted: int = Field(description="persons of the notice's 100% groups (its assisted_groups), enrolled or not")
    assisted_enrolled: int = Field(description="assisted persons enrolled and paid")
    rate_of_population: str | None = Field(description='paid / population, four decimals ("0.9512")')
    rate_of_target: str | None = Field(description="paid / target, four decimals")
    below_target: bool | None = Field(description="paid under the target number, or under the policy's rate of its "
                                                  "base (population or task number); null where no target applies")
    assisted_below_target: bool | None = Field(description="assisted persons not all (per the policy's share) "
                                                           "enrolled and paid; null where the policy sets no such target")


class ReportTargets(BaseModel):
    rate_of_population: str | None = Field(description="the share of rate_base each region must reach")
    rate_source: str
    rate_base: Literal["population", "target"] = Field(
        description="the rate's denominator: the table's population, or its task number (应参保人数)")
    rate_base_source: str
    assisted: str | None
    assisted_source: str
    assisted_groups: list[str] = Field(description="the notice's 100% groups as category codes; empty: every "
                                                   "identity category held counts")
    assisted_groups_source: str


class EnrollmentReport(BaseModel):
    region: str
    year: int
    as_of: str
    rows: list[EnrollmentRow]
    total: EnrollmentRow
    targets: ReportTargets | None = Field(description="the policy's targets the rows are marked against")
    warnings: list[str]


class ImportRow(BaseModel):
    line: int
    outcome: Literal["posted", "already_posted", "enrolled_and_posted", "duplicate_in_file", "unknown_person",
                     "name_mismatch", "over_payment", "refused_by_rule", "out_of_scope", "malformed"]
    message: str
    transaction_id: str
    id_number: str = Field(description="masked: first 6 and last 4")
    amount: str | None
    channel: str
    collection_point: str
    payment_id: str | None


class ImportTotal(BaseModel):
    key: str
    rows: int
    amount: str


class ImportTotals(BaseModel):
    by_channel: list[ImportTotal]
    by_collection_point: list[ImportTotal]


class ImportReport(BaseModel):
    rows: list[ImportRow]
    counts: dict[str, int]
    totals: ImportTotals


class DepartureOut(BaseModel):
    id_number: str
    reason: str
    left_on: str
    source: str
    enrollments_ended: list[EnrollmentOut] = Field(description="each enrollment ended with it, refund decided")


class CorrectionOut(PersonOut):
    hukou_registered_on: date | None
    mother_id_number: str | None = Field(description="masked")
    father_id_number: str | None = Field(description="masked")
    enrollments: list[EnrollmentOut] = Field(description="each enrollment as it now stands")


class MovedPaymentOut(BaseModel):
    payment_id: str = Field(description="the payment as recorded where it belongs")
    moved_from: str
    enrollment: EnrollmentOut = Field(description="the enrollment it now pays")
    left_behind: EnrollmentOut = Field(description="the enrollment it was posted to in error")
