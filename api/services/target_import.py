"""`ledger targets load FILE --year Y`: reading another target table (任务分配表) for the reports.

The file is CSV (UTF-8 or GB18030) with a region code, name, population and target per row, headers
in English or Chinese. A row with no code named 合计/总计/total carries the totals the notice prints;
where they disagree with the rows the table is loaded anyway, with the warning kept beside it and
shown on every report that uses it. Tables are events in the ledger's store, so who loaded which
table, and when, is audited, and a report known at a past time uses the table loaded by then.
"""

from __future__ import annotations

import csv
import io

from api.services.daily_file import decide_encoding
from domain import events as ev
from domain.dates import now
from domain.errors import InvalidInput
from domain.person import claim_id
from domain.regions import regions

CODE = ("region_code", "code", "区划代码", "行政区划代码", "代码")
NAME = ("region_name", "name", "名称", "单位", "地区")
TOTAL_NAMES = ("合计", "总计", "total")


def _column(headers: list[str], wanted: str, names: tuple[str, ...], words: tuple[str, ...], year: int,
            given: str | None) -> str:
    if given:
        if given not in headers:
            raise InvalidInput(f"the file has no column {given!r} (its columns: {', '.join(headers)})", wanted, "column_exists")
        return given
    exact = [h for h in headers if h.strip().lower() in names]
    if exact:
        return exact[0]
    found = [h for h in headers if any(w in h.lower() for w in words)]
    if len(found) > 1:
        found = [h for h in found if str(year) in h] or found
    if len(found) != 1:
        what = "no column" if not found else f"several columns ({', '.join(found)})"
        raise InvalidInput(f"{what} for the {wanted}; name it with --{wanted}-column", wanted, "column_found")
    return found[0]


def parse_table(data: bytes, year: int, source: str, region: str | None = None,
                population_column: str | None = None, target_column: str | None = None) -> ev.TargetTableLoaded:
    """The file as an event to append (not yet stored); every problem names its line and column."""
    text = data.decode(decide_encoding(io.BytesIO(data)))
    reader = csv.DictReader(io.StringIO(text))
    headers = reader.fieldnames or []
    code_col = _column(headers, "code", CODE, ("code", "代码"), year, None)
    name_col = _column(headers, "name", NAME, ("name", "名称"), year, None)
    pop_col = _column(headers, "population", (), ("population", "人口"), year, population_column)
    target_col = _column(headers, "target", (), ("target", "任务", "目标"), year, target_column)
    rows: list[ev.TargetRowLoaded] = []
    printed: tuple[int, int] | None = None
    for line, raw in enumerate(reader, start=2):
        code, name = (raw.get(code_col) or "").strip(), (raw.get(name_col) or "").strip()
        if not code and not name:
            continue
        numbers = []
        for col in (pop_col, target_col):
            value = (raw.get(col) or "").strip().replace(",", "")
            if not value.isdigit():
                raise InvalidInput(f"line {line}: {col} must be a whole number of persons, got {value!r}", col, "count")
            numbers.append(int(value))
        if not code and name.lower() in TOTAL_NAMES:
            printed = (numbers[0], numbers[1])
            continue
        if not code.isdigit() or len(code) not in (6, 9, 12):
            raise InvalidInput(f"line {line}: {code!r} is not a 6-, 9- or 12-digit region code", code_col, "region_code")
        if any(r.code == code for r in rows):
            raise InvalidInput(f"line {line}: region {code} is listed twice", code_col, "region_unique")
        rows.append(ev.TargetRowLoaded(code, name, numbers[0], numbers[1]))
    if not rows:
        raise InvalidInput("the file has no rows", "file", "rows")
    parent = region or _parent(rows[0].code)
    for r in rows:
        if not r.code.startswith(parent) or len(r.code) != len(rows[0].code):
            raise InvalidInput(f"region {r.code} is not one level below {parent}", code_col, "region_parent")
    population, target = sum(r.population for r in rows), sum(r.target for r in rows)
    warnings = []
    if printed and printed[0] != population:
        warnings.append(f"the population column of {source} sums to {population:,} while the file prints {printed[0]:,}")
    if printed and printed[1] != target:
        warnings.append(f"the {year} target column of {source} sums to {target:,} while the file prints {printed[1]:,}")
    moment = now()
    return ev.TargetTableLoaded(
        originator_id=claim_id("targets", parent, str(year)), originator_version=1, recorded_at=moment,
        effective_at=moment, actor="cli", role="admin", region=parent, year=year, source=source, rows=rows,
        printed_population=printed[0] if printed else None, printed_target=printed[1] if printed else None,
        warnings=warnings,
    )


def _parent(code: str) -> str:
    known = regions().get(code)
    if known and known.parent_code:
        return known.parent_code
    return code[: {12: 9, 9: 6, 6: 4}[len(code)]]


