"""A report for a caller: the role and region checks, the date it is asked for, then the figures
from the projections. The HTTP API and the console both answer through here."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from api.auth import PAYABLE_READERS, READERS, Caller, allow, in_scope
from domain.dates import china_date
from domain.ledger import Ledger
from projections.reports import report_columns
from projections.service import Reports


def report_for(who: Caller, ledger: Ledger, reports: Reports, kind: str, region: str, year: int,
               as_of: date | None, known_at: datetime | None) -> tuple[dict[str, Any], list[str], str]:
    """(report, its columns, a file name) as of `as_of` (default today in China), as known at `known_at`."""
    allow(who, READERS, "read reports")
    if kind == "payable":
        allow(who, PAYABLE_READERS, "read the payable list (应征缴明细)")
    in_scope(who, region)
    columns = report_columns(kind, region)
    on = as_of or china_date(ledger.clock())
    return reports.report(kind, region, year, on, known_at), columns, f"{kind}-{region}-{year}-{on}"
