"""A bureau's first load (`ledger import history FILE…`): the enrollment and payment history of the
old system's export, through the same commands and checks as the API and the daily file.

A row is one person's enrollment for a coverage year, with the identity category the old system
held for them and the payment made, if any. Each row is recorded all or nothing, as the commands a
collection point and the bureau would have sent: the person registered if new, the category
certified if not held, the enrollment made if not there, the payment posted under its transaction
id (缴费流水号, unique across the ledger). So a row already recorded (a load run again, or resumed
after it was stopped) writes nothing, and says so; a row the rules refuse writes nothing and says
why; the others go on. Rows are posted in chunks of one transaction each (api/services/
collection_import.py), so a load killed at any moment keeps whole chunks, and running it again
completes it.

The file is CSV (UTF-8 or GB18030) or a spreadsheet, read as the daily file is
(api/services/daily_file.py), with Chinese or English headers: 证件号码 id_number, 姓名 name,
村（社区）代码 region, 参保年度 year, 档次 tier, and where they apply 参保身份 cohort, 参保日期 enrolled_on,
身份类别 category, 认定日期 certified_on, 缴费金额 amount, 缴费时间 paid_at, 缴费渠道 channel,
缴费流水号 transaction_id, 征收点 collection_point, 票据号 receipt_no.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from api.services.collection_import import (
    CHANNEL_NAMES, Importer, RowResult, _amount, _with, echo, paid_at_of, person_year)
from api.services.daily_file import Layout, SourceRow
from domain.categories import resolve_category
from domain.dates import CHINA
from domain.errors import InvalidInput, LedgerError, NotFound
from domain.ledger import CHANNELS, Actor, Fen, Ledger
from domain.money import yuan
from domain.regions import validate_village_code
from domain.text import clean_text, optional_text

HEADERS = {
    "证件号码": "id_number", "姓名": "name", "村（社区）代码": "region", "村(社区)代码": "region", "行政区划代码": "region",
    "参保年度": "year", "档次": "tier", "参保身份": "cohort", "参保日期": "enrolled_on", "身份类别": "category",
    "认定日期": "certified_on", "缴费金额": "amount", "缴费时间": "paid_at", "缴费渠道": "channel",
    "缴费流水号": "transaction_id", "征收点": "collection_point", "票据号": "receipt_no",
}
REQUIRED = ("id_number", "name", "region", "year", "tier")
# A row with a payment names all of these; one without names none.
PAYMENT = ("amount", "paid_at", "channel", "transaction_id", "collection_point")
LAYOUT = Layout(HEADERS, REQUIRED, "参保年度 year")
COHORTS = {"": "resident", "居民": "resident", "城乡居民": "resident", "resident": "resident", "学生": "student",
           "大学生": "student", "student": "student", "新生儿": "newborn", "newborn": "newborn"}
OUTCOMES = ("recorded", "already_recorded", "duplicate_in_file", "registration_differs", "over_payment",
            "refused_by_rule", "malformed")
SUCCESS = {"recorded", "already_recorded"}
POINT = "history-import"  # the collection point of rows without a payment


@dataclass
class HistoryRow:
    id_number: str
    name: str
    region: str
    year: int
    tier: int
    cohort: str
    enrolled_on: date
    category: str | None
    certified_on: date | None
    amount_fen: int | None
    paid_at: datetime | None
    channel: str
    transaction_id: str
    collection_point: str
    receipt_no: str | None


def _day(cells: dict[str, Any], text: dict[str, str], name: str) -> date | None:
    if not text.get(name):
        return None
    return paid_at_of(cells[name], text[name], name).astimezone(CHINA).date()


def parse_history_row(cells: dict[str, Any], typed: bool = True) -> HistoryRow:
    """Shape checks; raises InvalidInput naming the field (the row is then `malformed`)."""
    text, number, year, tier = person_year(cells, typed, REQUIRED)
    cohort = COHORTS.get(text.get("cohort", ""))
    if cohort is None:
        raise InvalidInput(f"must be 居民, 学生 or 新生儿 (resident, student, newborn), got {echo(text['cohort'])!r}",
                           "cohort", "cohort")
    given = [f for f in PAYMENT if text.get(f)]
    if given and len(given) < len(PAYMENT):
        missing = next(f for f in PAYMENT if not text.get(f))
        raise InvalidInput(f"is empty while the row has a payment ({', '.join(given)}): a payment names all of"
                           f" {', '.join(PAYMENT)}", missing, "payment_fields")
    paid_at = paid_at_of(cells["paid_at"], text["paid_at"]) if given else None
    channel = ""
    if given:
        channel = CHANNEL_NAMES.get(text["channel"]) or text["channel"].lower()
        if channel not in CHANNELS:
            raise InvalidInput(f"unknown channel {echo(text['channel'])!r}", "channel", "channel")
    enrolled_on = _day(cells, text, "enrolled_on") or (paid_at.astimezone(CHINA).date() if paid_at else None)
    if enrolled_on is None:
        raise InvalidInput("is empty: a row without a payment names the day of enrollment", "enrolled_on", "required")
    category = resolve_category(text["category"]) if text.get("category") else None
    return HistoryRow(
        id_number=number, name=clean_text(text["name"], "name"), region=validate_village_code(text["region"]),
        year=year, tier=tier, cohort=cohort, enrolled_on=enrolled_on, category=category,
        certified_on=_day(cells, text, "certified_on") if category else None,
        amount_fen=_amount(cells["amount"], text["amount"]) if given else None, paid_at=paid_at, channel=channel,
        transaction_id=clean_text(text["transaction_id"], "transaction_id") if given else "",
        collection_point=clean_text(text["collection_point"], "collection_point") if given else POINT,
        receipt_no=optional_text(text.get("receipt_no"), "receipt_no"),
    )


@dataclass
class HistorySummary:
    """Each outcome counted, and the payments the files hold in the ledger now (those this run
    recorded and those recorded before), by channel."""

    counts: Counter[str] = field(default_factory=Counter)
    in_ledger: dict[str, list[int]] = field(default_factory=dict)  # channel -> [payments, fen]

    def add(self, r: RowResult) -> None:
        self.counts[r.outcome] += 1
        if r.outcome in SUCCESS and r.amount_fen is not None and r.channel:
            entry = self.in_ledger.setdefault(r.channel, [0, 0])
            entry[0] += 1
            entry[1] += r.amount_fen

    def merge(self, other: HistorySummary) -> None:
        """Another file's summary added to this one (a load of several files)."""
        self.counts.update(other.counts)
        for channel, (n, fen) in other.in_ledger.items():
            entry = self.in_ledger.setdefault(channel, [0, 0])
            entry[0] += n
            entry[1] += fen

    @property
    def ok(self) -> bool:
        return all(outcome in SUCCESS for outcome in self.counts)

    def counts_dict(self) -> dict[str, int]:
        return {outcome: self.counts.get(outcome, 0) for outcome in OUTCOMES}

    def totals(self) -> dict[str, Any]:
        return {"payments_in_ledger_by_channel": [{"key": k, "rows": n, "amount": yuan(fen)}
                                                  for k, (n, fen) in sorted(self.in_ledger.items())]}


class HistoryImporter(Importer):
    """The daily file's chunked, all-or-nothing posting, with the history's rows."""

    already = "already_recorded"

    def __init__(self, ledger: Ledger, actor_name: str = "history-import"):
        super().__init__(ledger, actor_name, "bureau")

    def new_summary(self) -> HistorySummary:
        return HistorySummary()

    def post(self, source: SourceRow) -> RowResult:
        row, base = self.begin(source, parse_history_row)
        if row is None:
            return base
        actor = Actor(self.run, "bureau", row.collection_point)
        try:
            person = self.ledger.current_person(row.id_number)
        except NotFound:
            person = None
        if person is not None and (person.name.replace(" ", "") != row.name.replace(" ", "")
                                   or person.region != row.region):
            return _with(base, "registration_differs",
                         f"the ledger has {person.name} of village {person.region}; the file says {row.name} of"
                         f" {row.region}: a person is registered once (a correction is the bureau's, not the load's)")
        if row.transaction_id:
            claim = self.ledger.transaction_claim(row.transaction_id)
            if claim is not None:
                return self.claimed(base, claim.actor, claim.payment_id)
        done: list[str] = []
        try:
            with self.ledger.atomic():
                if person is None:
                    person, _ = self.ledger.register(actor, id_number=row.id_number, name=row.name, region=row.region)
                    done.append("registered")
                if row.category is not None:
                    since = row.certified_on or row.enrolled_on
                    if row.category not in person.categories_held(since):
                        person = self.ledger.change_identity(actor, id_number=row.id_number, category=row.category,
                                                             action="certify", effective_on=since)
                        done.append(f"{row.category} certified from {since}")
                _, enrolled = self.ledger.enroll(actor, id_number=row.id_number, year=row.year, tier=row.tier,
                                                 cohort=row.cohort, enrolled_on=row.enrolled_on)
                if enrolled != "unchanged":
                    done.append(f"enrolled for {row.year} on tier {row.tier}" if enrolled == "created"
                                else f"tier changed to {row.tier} for {row.year}")
                if row.amount_fen is not None:
                    result = self.ledger.pay(actor, id_number=row.id_number, year=row.year, amount=Fen(row.amount_fen),
                                             paid_at=row.paid_at, channel=row.channel, receipt_no=row.receipt_no,
                                             transaction_id=row.transaction_id, with_view=False)
                    base.payment_id = result.payment_id
                    done.append(f"{yuan(row.amount_fen)} posted")
        except LedgerError as e:
            return self.refused(base, e)
        if not done:
            return _with(base, "already_recorded", "already in the ledger: nothing written")
        return _with(base, "recorded", "; ".join(done))
