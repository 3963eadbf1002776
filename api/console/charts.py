"""The enrollment page's bar chart, as numbers an SVG template draws: no script, no other host."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

WIDTH = 520  # SVG units for the largest value shown
ROW = 22


def bars(rows: list[dict[str, Any]], targets: dict[str, Any] | None) -> dict[str, Any]:
    """One bar per child region. Where the table sets targets, the bar is paid / target and the line
    is 100% of it; else paid / population against the policy's rate, when it names one."""
    by_target = any(r["target"] for r in rows)
    key = "rate_of_target" if by_target else "rate_of_population"
    line = Decimal(1) if by_target else (Decimal(targets["rate_of_population"])
                                         if targets and targets.get("rate_of_population") else None)
    values = [Decimal(r[key]) for r in rows if r[key] is not None]
    top = max([Decimal(1), *values, *([line] if line is not None else [])])

    def x(value: Decimal | None) -> int:
        return int(value / top * WIDTH) if value is not None else 0

    drawn = [{"name": r["name"], "label": percent(r[key]), "x": x(Decimal(r[key]) if r[key] is not None else None),
              "y": i * ROW, "below": bool(r.get("below_target"))} for i, r in enumerate(rows)]
    return {"bars": drawn, "width": WIDTH, "height": max(len(drawn), 1) * ROW, "key": key,
            "line_x": x(line) if line is not None else None, "line": percent(str(line)) if line is not None else None}


def percent(rate: str | None) -> str:
    return "" if rate is None else f"{Decimal(rate) * 100:.2f}%"
