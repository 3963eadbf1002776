"""The tax bureau's daily collection file (楚雄 notice §六(三)): post and reconcile its rows.

The file (CSV in UTF-8 or GB18030, or a spreadsheet; see api/services/daily_file.py) is read as a stream,
a chunk of rows at a time: each chunk is posted in one transaction, each row all-or-nothing and
idempotently, keyed by its transaction id (the same id posted through the API is the same
payment). Every row gets exactly one outcome; bad rows never block good ones, and a row about a
person outside the regions of the token that sent the file is `out_of_scope`, with nothing
written and nothing said about the person.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import IO, Any

from eventsourcing.persistence import IntegrityError, OperationalError

from api.auth import Caller
from api.services.daily_file import DAILY, REQUIRED, FileProblem, Layout, SourceRow, read_rows
from domain.dates import CHINA
from domain.errors import OUTSIDE_SCOPE, Forbidden, InvalidInput, LedgerError, NotFound, RefusedByRule
from domain.idnumber import mask, parse_resident_id
from domain.ledger import CHANNELS, Actor, AlreadyRecorded, Fen, Ledger
from domain.money import parse_yuan, yuan
from domain.text import clean_text, optional_text

__all__ = ["FileProblem", "Importer", "Summary", "OUTCOMES", "REPORT_COLUMNS"]

OUTCOMES = ("posted", "already_posted", "enrolled_and_posted", "duplicate_in_file", "unknown_person",
            "name_mismatch", "over_payment", "refused_by_rule", "out_of_scope", "malformed")
SUCCESS = {"posted", "already_posted", "enrolled_and_posted"}
CHANNEL_NAMES = {"微信": "wechat", "支付宝": "alipay", "POS": "pos", "pos机": "pos", "POS机": "pos", "银行": "bank",
                 "办税服务厅": "tax_hall", "税务大厅": "tax_hall", "现金": "cash", "APP": "app", "手机APP": "app"}
# Rows per transaction. Not more: the library inserts a batch in psycopg pipeline mode, and at
# 5,000 rows (10,000 events) client and server both blocked writing (cf. psycopg issue 685);
# 2,000 rows was measured to work at a million rows on both backends.
CHUNK = 2000
# 缴费时间 as tax systems and spreadsheets write it: China time, to the second or to the day.
_PAID_AT = re.compile(r"([0-9]{4})[-/]([0-9]{1,2})[-/]([0-9]{1,2})(?:[ T]([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?)?")
_PAID_AT_USUAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_PAID_AT_DIGITS = re.compile(r"([0-9]{4})([0-9]{2})([0-9]{2})(?:([0-9]{2})([0-9]{2})([0-9]{2}))?")
# What a row's report repeats of its own cells: enough to find the row, never a megabyte.
ECHO = 64
_DIGITS = re.compile(r"[0-9]{1,9}")
TIERS = {"1": 1, "2": 2, "一档": 1, "二档": 2}


@dataclass
class RowResult:
    line: int
    outcome: str
    message: str
    transaction_id: str = ""
    id_number: str = ""
    amount_fen: int | None = None
    channel: str = ""
    collection_point: str = ""
    payment_id: str | None = None

    def public(self) -> dict[str, Any]:
        """As reported: identity numbers masked (first 6, last 4)."""
        return {"line": self.line, "outcome": self.outcome, "message": self.message,
                "transaction_id": self.transaction_id, "id_number": mask(self.id_number) if self.id_number else "",
                "amount": yuan(self.amount_fen) if self.amount_fen is not None else None, "channel": self.channel,
                "collection_point": self.collection_point, "payment_id": self.payment_id}


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    by_channel: dict[str, list[int]] = field(default_factory=dict)  # channel -> [rows, fen]
    by_point: dict[str, list[int]] = field(default_factory=dict)

    def add(self, r: RowResult) -> None:
        self.counts[r.outcome] += 1
        if r.outcome in ("posted", "enrolled_and_posted") and r.amount_fen is not None:
            for table, key in ((self.by_channel, r.channel), (self.by_point, r.collection_point)):
                entry = table.setdefault(key, [0, 0])
                entry[0] += 1
                entry[1] += r.amount_fen

    @property
    def ok(self) -> bool:
        return all(outcome in SUCCESS for outcome in self.counts)

    def totals(self) -> dict[str, Any]:
        def rows(table: dict[str, list[int]]) -> list[dict[str, Any]]:
            return [{"key": k, "rows": n, "amount": yuan(fen)} for k, (n, fen) in sorted(table.items())]

        return {"by_channel": rows(self.by_channel), "by_collection_point": rows(self.by_point)}

    def counts_dict(self) -> dict[str, int]:
        return {outcome: self.counts.get(outcome, 0) for outcome in OUTCOMES}


# -- one row's cells ----------------------------------------------------------------------------


@dataclass
class ParsedRow:
    transaction_id: str
    id_number: str
    name: str
    year: int
    tier: int
    amount_fen: int
    paid_at: datetime
    channel: str
    collection_point: str
    receipt_no: str | None


def echo(value: Any) -> str:
    """A cell as the row's report repeats it: text, one line, at most ECHO characters."""
    text = cell_text(value)
    if len(text) <= ECHO and text.isprintable():
        return text
    text = "".join(ch if ch.isprintable() else " " for ch in text[: ECHO + 1])
    return text if len(text) <= ECHO else text[: ECHO - 1] + "…"


def cell_text(value: Any) -> str:
    """A cell as text. A spreadsheet stores 2021 and 1 as numbers (2021.0): they read as 2021, 1."""
    if type(value) is str:  # every cell of a CSV file, most of a spreadsheet's
        return value.strip()
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _whole_number(text: str, field_name: str, what: str) -> int:
    if not _DIGITS.fullmatch(text):
        raise InvalidInput(f"is not {what}: {echo(text)!r}", field_name, field_name)
    return int(text)


def _id_number(value: Any, text: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        # 18 digits are more than a spreadsheet number holds: the last ones are already lost.
        raise InvalidInput("is stored as a number, which loses its last digits: format the column as text",
                           "id_number", "id_number_as_number")
    return parse_resident_id(text).number


def _amount(value: Any, text: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput("must be an amount in yuan", "amount", "money")
    if isinstance(value, (int, float)):
        return parse_yuan(value, "amount")  # a float through its shortest repr: 84.5, never 84.4999
    return parse_yuan(text, "amount")


def paid_at_of(value: Any, text: str, field_name: str = "paid_at") -> datetime:
    """缴费时间 (or another moment, `field_name`) in China time: a date or date-time cell, or text such
    as 2021-02-15 10:00:00, 2021/02/15, 20210215 (a day alone is read as its first moment)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=CHINA) if value.tzinfo is None else value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=CHINA)
    if _PAID_AT_USUAL.fullmatch(text):  # the tax systems' own form: parsed in C, six times faster
        try:
            return datetime.fromisoformat(text).replace(tzinfo=CHINA)
        except ValueError:
            pass  # an impossible date: refused below with the usual message
    m = _PAID_AT.fullmatch(text) or _PAID_AT_DIGITS.fullmatch(text)
    try:
        if m is None:
            raise ValueError
        y, mo, d, h, mi, sec = (int(g) if g else 0 for g in m.groups())
        return datetime(y, mo, d, h, mi, sec, tzinfo=CHINA)
    except ValueError:
        raise InvalidInput(
            f"must be a date or date-time in China time, like 2021-02-15 10:00:00, 2021/02/15 or 20210215; got {echo(text)!r}",
            field_name, "datetime") from None


def person_year(cells: dict[str, Any], typed: bool, required: tuple[str, ...]) -> tuple[dict[str, str], str, int, int]:
    """The cells as text (each read once), and the identity number, coverage year and tier every
    file's row names; InvalidInput naming the field. `typed`: the cells may hold numbers and dates
    (a spreadsheet's), not only trimmed text (CSV)."""
    text = {f: cell_text(v) for f, v in cells.items()} if typed else cells
    for f in required:
        if not text.get(f):
            raise InvalidInput("is empty (an empty or merged cell?)", f, "required")
    number = _id_number(cells["id_number"], text["id_number"])
    year = _whole_number(text["year"], "year", "a year")
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"is not a coverage year: {year}", "year", "year")
    tier = TIERS.get(text["tier"])
    if tier is None:
        raise InvalidInput(f"must be 1 or 2 (一档/二档), got {echo(text['tier'])!r}", "tier", "tier")
    return text, number, year, tier


def parse_row(cells: dict[str, Any], typed: bool = True) -> ParsedRow:
    """Shape checks; raises InvalidInput naming the field (the row is then `malformed`)."""
    text, number, year, tier = person_year(cells, typed, REQUIRED)
    amount_fen = _amount(cells["amount"], text["amount"])
    paid_at = paid_at_of(cells["paid_at"], text["paid_at"])
    raw_channel = text["channel"]
    channel = CHANNEL_NAMES.get(raw_channel) or raw_channel.lower()
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown channel {echo(raw_channel)!r}", "channel", "channel")
    return ParsedRow(
        transaction_id=clean_text(text["transaction_id"], "transaction_id"),
        id_number=number,
        name=clean_text(text["name"], "name"),
        year=year,
        tier=tier,
        amount_fen=amount_fen,
        paid_at=paid_at,
        channel=channel,
        collection_point=clean_text(text["collection_point"], "collection_point"),
        receipt_no=optional_text(text.get("receipt_no"), "receipt_no"),
    )


class Importer:
    def __init__(self, ledger: Ledger, actor_name: str = "tax-bureau-file", role: str = "bureau",
                 regions: tuple[str, ...] = ()):
        """`regions`: those of the token that sent the file (none: everywhere)."""
        self.ledger = ledger
        # Claims made under this run's name tell a duplicate inside the file from an earlier posting.
        self.run = f"{actor_name}#{uuid.uuid4().hex[:8]}"
        self.role = role
        self.regions = regions

    # What a row already in the ledger is called, and how it is told.
    already = "already_posted"

    def post(self, source: SourceRow) -> RowResult:
        row, base = self.begin(source, parse_row)
        if row is None:
            return base
        actor = Actor(self.run, self.role, row.collection_point, self.regions)
        try:
            person = self.ledger.current_person(row.id_number)
        except NotFound:
            person = None
        # Before anything about the person or their payments is told: are they the caller's?
        if person is not None and not actor.may_serve(person.region):
            return _with(base, "out_of_scope", OUTSIDE_SCOPE)
        claim = self.ledger.transaction_claim(row.transaction_id)
        if claim is not None:
            return self.claimed(base, claim.actor, claim.payment_id)
        if person is None:
            return _with(base, "unknown_person", "no person is registered with this identity number")
        if person.name.replace(" ", "") != row.name.replace(" ", ""):
            return _with(base, "name_mismatch", f"the file says {row.name}, the ledger has {person.name}")
        enrolled = row.year in person.enrollments
        try:
            with self.ledger.atomic():
                if not enrolled:
                    self.ledger.enroll(actor, id_number=row.id_number, year=row.year, tier=row.tier,
                                       enrolled_on=row.paid_at.astimezone(CHINA).date())
                result = self.ledger.pay(actor, id_number=row.id_number, year=row.year, amount=Fen(row.amount_fen),
                                         paid_at=row.paid_at, channel=row.channel, receipt_no=row.receipt_no,
                                         transaction_id=row.transaction_id, with_view=False)
        except LedgerError as e:
            return self.refused(base, e)
        base.payment_id = result.payment_id
        if enrolled:
            return _with(base, "posted", "posted")
        return _with(base, "enrolled_and_posted", f"enrolled for {row.year} on tier {row.tier} on the payment date, then posted")

    @staticmethod
    def begin(source: SourceRow, parse: Callable[[dict[str, Any], bool], Any]) -> tuple[Any, RowResult]:
        """The row as `parse` reads it, and its result so far; one that cannot be read is `malformed`
        (and no row)."""
        cells = source.cells
        try:
            if source.problem is not None:
                raise InvalidInput(source.problem)
            row = parse(cells, source.typed)
        except LedgerError as e:
            return None, RowResult(source.line, "malformed", str(e), echo(cells.get("transaction_id")), "", None,
                                   echo(cells.get("channel")), echo(cells.get("collection_point")))
        return row, RowResult(source.line, "malformed", "", row.transaction_id, row.id_number, row.amount_fen,
                              row.channel, row.collection_point)

    def refused(self, base: RowResult, e: LedgerError) -> RowResult:
        """The outcome of a row the ledger's commands refused: nothing of it was written."""
        if isinstance(e, AlreadyRecorded):
            return self.claimed(base, "", e.payment_id)
        if isinstance(e, Forbidden):
            return _with(base, "out_of_scope", OUTSIDE_SCOPE)
        if isinstance(e, RefusedByRule):
            return _with(base, "over_payment" if e.rule == "over_payment" else "refused_by_rule", str(e))
        if isinstance(e, InvalidInput):
            return _with(base, "malformed", str(e))
        return _with(base, "refused_by_rule", str(e))  # a conflict with the ledger's state

    def claimed(self, base: RowResult, actor: str, payment_id: str) -> RowResult:
        base.payment_id = payment_id
        if actor == self.run:
            return _with(base, "duplicate_in_file", f"transaction {base.transaction_id} appears earlier in this file")
        return _with(base, self.already, f"transaction {base.transaction_id} was posted before as payment {payment_id}")

    # -- the whole file ------------------------------------------------------------------------
    def new_summary(self) -> Any:
        return Summary()

    def run_file(self, stream: IO[bytes], emit: Callable[[RowResult], None],
                 progress: Callable[[int], None] | None = None, layout: Layout = DAILY) -> Any:
        """Every row of the file, posted chunk by chunk. A file that cannot be read as a whole is
        refused (FileProblem) before its first row is posted."""
        summary = self.new_summary()
        chunk: list[SourceRow] = []
        for item in read_rows(stream, layout):
            chunk.append(item)
            if len(chunk) >= CHUNK:
                self._chunk(chunk, summary, emit)
                if progress:
                    progress(len(chunk))
                chunk = []
        if chunk:
            self._chunk(chunk, summary, emit)
            if progress:
                progress(len(chunk))
        return summary

    def _chunk(self, chunk: list[SourceRow], summary: Any, emit: Callable[[RowResult], None]) -> None:
        """One transaction for the chunk; if another writer raced it, the rows go one by one."""
        try:
            with self.ledger.batch(size=10**9):
                self.ledger.prefetch([("resident_id", cell_text(r.cells.get("id_number")).upper()) for r in chunk],
                                     transactions=[t for r in chunk if (t := cell_text(r.cells.get("transaction_id")))])
                results = [self.post(r) for r in chunk]
        except (IntegrityError, OperationalError):
            results = [self._alone(r) for r in chunk]
        for r in results:
            summary.add(r)
            emit(r)

    def _alone(self, source: SourceRow) -> RowResult:
        for _ in range(30):
            try:
                with self.ledger.batch(size=10**9):
                    return self.post(source)
            except (IntegrityError, OperationalError):
                continue
        return RowResult(source.line, "refused_by_rule", "the person's record kept changing; run the import again",
                         echo(source.cells.get("transaction_id")))


def _with(r: RowResult, outcome: str, message: str) -> RowResult:
    r.outcome, r.message = outcome, message
    return r


REPORT_COLUMNS = ["line", "outcome", "message", "transaction_id", "id_number", "amount", "channel", "collection_point", "payment_id"]


def import_file(ledger: Ledger, who: Caller, upload: IO[bytes], emit: Callable[[RowResult], None]) -> Summary:
    """Import one file as `who`, each row's outcome handed to `emit` as it is decided."""
    return Importer(ledger, actor_name=who.name, role=who.role, regions=who.regions).run_file(upload, emit)
