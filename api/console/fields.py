"""Form and query fields as the console reads them: strictly, as a browser's own fields send them."""

from __future__ import annotations

import re
from datetime import date

from domain.errors import InvalidInput

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # a date field's value; Python's own reading is looser


def day(value: str | None, field: str) -> date | None:
    if not value:
        return None
    if _DAY.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInput("must be a date written YYYY-MM-DD, like 2021-02-15", field, "date")
