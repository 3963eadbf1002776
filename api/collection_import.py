"""The tax bureau's daily collection file (楚雄 notice §六(三)): read, post, reconcile.

A file is CSV in UTF-8 (with or without a BOM) or GB18030, its encoding detected by
charset-normalizer, with headers in Chinese or English. It is read as a stream, a chunk of rows
at a time: each chunk is posted in one transaction, each row all-or-nothing and idempotently,
keyed by its transaction id (the same id posted through the API is the same payment). Every row
gets exactly one outcome; bad rows never block good ones.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from charset_normalizer import from_bytes
from eventsourcing.persistence import IntegrityError, OperationalError

from domain.dates import CHINA
from domain.errors import Conflict, InvalidInput, LedgerError, NotFound, RefusedByRule
from domain.idnumber import mask, parse_resident_id
from domain.ledger import Actor, AlreadyRecorded, Ledger
from domain.money import parse_yuan, yuan

OUTCOMES = ("posted", "already_posted", "enrolled_and_posted", "duplicate_in_file", "unknown_person",
            "name_mismatch", "over_payment", "refused_by_rule", "malformed")
SUCCESS = {"posted", "already_posted", "enrolled_and_posted"}
HEADERS = {
    "缴费流水号": "transaction_id", "证件号码": "id_number", "姓名": "name", "缴费年度": "year", "档次": "tier",
    "缴费金额": "amount", "缴费时间": "paid_at", "缴费渠道": "channel", "征收点": "collection_point", "票据号": "receipt_no",
}
FIELDS = tuple(HEADERS.values())
REQUIRED = ("transaction_id", "id_number", "name", "year", "tier", "amount", "paid_at", "channel", "collection_point")
CHANNEL_NAMES = {"微信": "wechat", "支付宝": "alipay", "POS": "pos", "pos机": "pos", "POS机": "pos", "银行": "bank",
                 "办税服务厅": "tax_hall", "税务大厅": "tax_hall", "现金": "cash", "APP": "app", "手机APP": "app"}
# Rows per transaction. Not more: the library inserts a batch in psycopg pipeline mode, and at
# 5,000 rows (10,000 events) client and server both blocked writing (cf. psycopg issue 685);
# 2,000 rows was measured to work at a million rows on both backends.
CHUNK = 2000
_PAID_AT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
SAMPLE = 64 * 1024


class FileProblem(LedgerError):
    """The file as a whole cannot be read (encoding, header): nothing was posted."""

    kind = "invalid"


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


# -- reading ----------------------------------------------------------------------------------


def detect_encoding(sample: bytes) -> str:
    """UTF-8 (BOM or not) or GB18030, as charset-normalizer judges the first 64 KiB."""
    if not sample:
        return "utf-8"
    best = from_bytes(sample).best()
    if best is None:
        raise FileProblem("the file is neither UTF-8 nor GB18030 text", "file", "encoding")
    name = best.encoding.lower().replace("-", "_")
    if name in ("utf_8", "ascii"):
        return "utf-8-sig"  # reads a BOM if there is one
    if name in ("gb18030", "gb2312", "gbk", "hz"):
        return "gb18030"  # the superset of the GB family
    raise FileProblem(f"the file looks like {best.encoding}; send UTF-8 or GB18030", "file", "encoding")


def read_rows(stream: IO[bytes]) -> tuple[str, Iterator[tuple[int, dict[str, str]]]]:
    """(encoding, rows as (line number, {field: value})) without reading the file whole."""
    buffered = io.BufferedReader(stream, buffer_size=SAMPLE) if not isinstance(stream, io.BufferedReader) else stream
    sample = buffered.peek(SAMPLE)[:SAMPLE]
    encoding = detect_encoding(sample)
    text = io.TextIOWrapper(buffered, encoding=encoding, newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise FileProblem("the file is empty: no header line", "file", "header") from None
    except UnicodeDecodeError as e:
        raise FileProblem(f"cannot be read as {encoding}: {e}", "file", "encoding") from None
    columns = [HEADERS.get(h.strip().lstrip("\ufeff"), h.strip().lstrip("\ufeff")) for h in header]
    missing = [f for f in REQUIRED if f not in columns]
    if missing:
        raise FileProblem(
            "the header lacks " + ", ".join(missing) + " (Chinese or English names, see README: 缴费流水号 transaction_id, ...)",
            "file",
            "header",
        )

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        try:
            for values in reader:
                if not any(v.strip() for v in values):
                    continue
                yield reader.line_num, {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(columns)}
        except UnicodeDecodeError as e:
            raise FileProblem(f"line {reader.line_num + 1} cannot be read as {encoding}: {e}", "file", "encoding") from None

    return encoding, rows()


# -- one row ----------------------------------------------------------------------------------


@dataclass
class ParsedRow:
    transaction_id: str
    id_number: str
    name: str
    year: int
    tier: int
    amount: str
    amount_fen: int
    paid_at: datetime
    channel: str
    collection_point: str
    receipt_no: str | None


def parse_row(values: dict[str, str]) -> ParsedRow:
    """Shape checks; raises InvalidInput naming the field (the row is then `malformed`)."""
    for f in REQUIRED:
        if not values.get(f):
            raise InvalidInput("is empty", f, "required")
    number = parse_resident_id(values["id_number"]).number
    try:
        year = int(values["year"])
    except ValueError:
        raise InvalidInput(f"is not a year: {values['year']!r}", "year", "year") from None
    if not 2000 <= year <= 2100:
        raise InvalidInput(f"is not a coverage year: {year}", "year", "year")
    tier_text = values["tier"].replace("一档", "1").replace("二档", "2")
    if tier_text not in ("1", "2"):
        raise InvalidInput(f"must be 1 or 2 (一档/二档), got {values['tier']!r}", "tier", "tier")
    amount_fen = parse_yuan(values["amount"], "amount")
    try:
        if not _PAID_AT.match(values["paid_at"]):
            raise ValueError
        paid_at = datetime.fromisoformat(values["paid_at"]).replace(tzinfo=CHINA)
    except ValueError:
        raise InvalidInput(f"must be YYYY-MM-DD HH:MM:SS (China time), got {values['paid_at']!r}", "paid_at", "datetime") from None
    channel = CHANNEL_NAMES.get(values["channel"], values["channel"].lower())
    if channel not in ("wechat", "alipay", "pos", "bank", "tax_hall", "cash", "app"):
        raise InvalidInput(f"unknown channel {values['channel']!r}", "channel", "channel")
    return ParsedRow(values["transaction_id"], number, values["name"], year, int(tier_text), values["amount"], amount_fen,
                     paid_at, channel, values["collection_point"], values.get("receipt_no") or None)


class Importer:
    def __init__(self, ledger: Ledger, actor_name: str = "tax-bureau-file", role: str = "bureau"):
        self.ledger = ledger
        # Claims made under this run's name tell a duplicate inside the file from an earlier posting.
        self.run = f"{actor_name}#{uuid.uuid4().hex[:8]}"
        self.role = role

    def post(self, line: int, values: dict[str, str]) -> RowResult:
        base = RowResult(line, "malformed", "", values.get("transaction_id", ""), "", None,
                         values.get("channel", ""), values.get("collection_point", ""))
        try:
            row = parse_row(values)
        except LedgerError as e:
            base.message = str(e)
            return base
        base.id_number, base.amount_fen, base.channel = row.id_number, row.amount_fen, row.channel
        claim = self.ledger.transaction_claim(row.transaction_id)
        if claim is not None:
            return self._claimed(base, claim.actor, claim.payment_id)
        try:
            person = self.ledger.current_person(row.id_number)
        except NotFound:
            return _with(base, "unknown_person", "no person is registered with this identity number")
        if person.name.replace(" ", "") != row.name.replace(" ", ""):
            return _with(base, "name_mismatch", f"the file says {row.name}, the ledger has {person.name}")
        actor = Actor(self.run, self.role, row.collection_point)
        enrolled = row.year in person.enrollments
        try:
            with self.ledger.atomic():
                if not enrolled:
                    self.ledger.enroll(actor, id_number=row.id_number, year=row.year, tier=row.tier,
                                       enrolled_on=row.paid_at.astimezone(CHINA).date())
                result = self.ledger.pay(actor, id_number=row.id_number, year=row.year, amount=row.amount,
                                         paid_at=row.paid_at, channel=row.channel, receipt_no=row.receipt_no,
                                         transaction_id=row.transaction_id, with_view=False)
        except AlreadyRecorded as e:
            return self._claimed(base, "", e.payment_id)
        except RefusedByRule as e:
            return _with(base, "over_payment" if e.rule == "over_payment" else "refused_by_rule", str(e))
        except (Conflict, NotFound) as e:
            return _with(base, "refused_by_rule", str(e))
        except InvalidInput as e:
            return _with(base, "malformed", str(e))
        base.payment_id = result.payment_id
        if enrolled:
            return _with(base, "posted", "posted")
        return _with(base, "enrolled_and_posted", f"enrolled for {row.year} on tier {row.tier} on the payment date, then posted")

    def _claimed(self, base: RowResult, actor: str, payment_id: str) -> RowResult:
        base.payment_id = payment_id
        if actor == self.run:
            return _with(base, "duplicate_in_file", f"transaction {base.transaction_id} appears earlier in this file")
        return _with(base, "already_posted", f"transaction {base.transaction_id} was posted before as payment {payment_id}")

    # -- the whole file ------------------------------------------------------------------------
    def run_file(self, stream: IO[bytes], emit: Callable[[RowResult], None],
                 progress: Callable[[int], None] | None = None) -> Summary:
        summary = Summary()
        _, rows = read_rows(stream)
        chunk: list[tuple[int, dict[str, str]]] = []
        for item in rows:
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

    def _chunk(self, chunk: list[tuple[int, dict[str, str]]], summary: Summary, emit: Callable[[RowResult], None]) -> None:
        """One transaction for the chunk; if another writer raced it, the rows go one by one."""
        try:
            with self.ledger.batch(size=10**9):
                self.ledger.prefetch([("resident_id", v.get("id_number", "").upper()) for _, v in chunk],
                                     transactions=[v["transaction_id"] for _, v in chunk if v.get("transaction_id")])
                results = [self.post(line, values) for line, values in chunk]
        except (IntegrityError, OperationalError):
            results = [self._alone(line, values) for line, values in chunk]
        for r in results:
            summary.add(r)
            emit(r)

    def _alone(self, line: int, values: dict[str, str]) -> RowResult:
        for _ in range(30):
            try:
                with self.ledger.batch(size=10**9):
                    return self.post(line, values)
            except (IntegrityError, OperationalError):
                continue
        return RowResult(line, "refused_by_rule", "the person's record kept changing; run the import again",
                         values.get("transaction_id", ""))


def _with(r: RowResult, outcome: str, message: str) -> RowResult:
    r.outcome, r.message = outcome, message
    return r


REPORT_COLUMNS = ["line", "outcome", "message", "transaction_id", "id_number", "amount", "channel", "collection_point", "payment_id"]
