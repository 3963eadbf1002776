"""Prior coverage from a file: a person's years of cover before the ledger held them, or elsewhere
(another 统筹区, 职工医保), as the national 全民参保 database extract lists them.

CSV in UTF-8 or GB18030 (decided as for the daily collection file), one cover per row. Every row
gets one outcome, as in the collection import: recorded, already recorded (the same fact again),
or why nothing was written. A row is all or nothing; bad rows never block good ones.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import IO, Any

from api.services.daily_file import FileProblem, decide_encoding
from domain.errors import OUTSIDE_SCOPE, Forbidden, InvalidInput, LedgerError, NotFound
from domain.idnumber import mask
from domain.ledger import Actor, Ledger

HEADERS = {"证件号码": "id_number", "险种": "scheme", "参保地": "region", "开始日期": "from", "结束日期": "to",
           "来源": "source", "凭证": "evidence"}
REQUIRED = ("id_number", "scheme", "region", "from", "source")
SCHEMES = {"职工医保": "employee", "职工基本医疗保险": "employee", "居民医保": "resident",
           "城乡居民基本医疗保险": "resident", "employee": "employee", "resident": "resident"}
OUTCOMES = ("recorded", "already_recorded", "unknown_person", "out_of_scope", "refused_by_rule", "malformed")
SUCCESS = {"recorded", "already_recorded"}
REPORT_COLUMNS = ["line", "outcome", "message", "id_number", "scheme", "region", "from", "to"]
CHUNK = 1000
ECHO = 64


@dataclass
class RowOutcome:
    line: int
    outcome: str
    message: str
    cells: dict[str, str]

    def public(self) -> dict[str, Any]:
        """As reported: identity numbers masked (first 6, last 4), cells cut to a readable length."""
        c = {k: (v or "")[:ECHO] for k, v in self.cells.items()}
        number = c.get("id_number", "")
        return {"line": self.line, "outcome": self.outcome, "message": self.message,
                "id_number": mask(number) if len(number) > 10 else number, "scheme": c.get("scheme", ""),
                "region": c.get("region", ""), "from": c.get("from", ""), "to": c.get("to", "")}


def _rows(stream: IO[bytes]) -> Iterator[tuple[int, dict[str, str]]]:
    encoding = decide_encoding(stream)
    stream.seek(0)
    reader = csv.reader(io.TextIOWrapper(stream, encoding=encoding, newline=""))
    try:
        header = [HEADERS.get(h.strip().lstrip("\ufeff"), h.strip().lstrip("\ufeff")) for h in next(reader)]
    except StopIteration:
        raise FileProblem("the file is empty: no header line", "file", "header") from None
    missing = [f for f in REQUIRED if f not in header]
    if missing:
        raise FileProblem(f"the header lacks {', '.join(missing)} (证件号码, 险种, 参保地, 开始日期, 来源)", "file",
                          "header")
    for values in reader:
        if "".join(values).strip():
            yield reader.line_num, {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(header)}


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        raise InvalidInput(f"{text[:ECHO]!r} is not a date like 2024-01-01", field, "date") from None


def _post(ledger: Ledger, actor: Actor, cells: dict[str, str]) -> tuple[str, str]:
    scheme = SCHEMES.get(cells["scheme"])
    if scheme is None:
        raise InvalidInput("must be 职工医保 (employee) or 居民医保 (resident)", "scheme", "scheme")
    to = cells.get("to") or None
    _, created = ledger.record_coverage_elsewhere(
        actor, id_number=cells["id_number"], scheme=scheme, region=cells["region"], from_on=_day(cells["from"], "from"),
        to_on=_day(to, "to") if to else None, source=cells["source"], evidence=cells.get("evidence") or None)
    return ("recorded", "recorded") if created else ("already_recorded", "the same cover is already recorded")


def import_prior_coverage(ledger: Ledger, actor: Actor, stream: IO[bytes],
                          emit: Callable[[RowOutcome], None]) -> Counter[str]:
    """Record each row's cover as `actor`; each row's outcome handed to `emit`. Refuses the whole
    file (FileProblem) before its first row when it cannot be read."""
    counts: Counter[str] = Counter()
    rows = _rows(stream)
    with ledger.batch(CHUNK):
        for line, cells in rows:
            try:
                with ledger.atomic():
                    outcome, message = _post(ledger, actor, cells)
            except NotFound as e:
                outcome, message = "unknown_person", str(e)
            except Forbidden:
                outcome, message = "out_of_scope", OUTSIDE_SCOPE
            except InvalidInput as e:
                outcome, message = "malformed", str(e)
            except LedgerError as e:
                outcome, message = "refused_by_rule", str(e)
            counts[outcome] += 1
            emit(RowOutcome(line, outcome, message, cells))
    return counts
