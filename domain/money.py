"""Money as integer fen. Never a float: a float cannot hold 0.10 exactly."""

from __future__ import annotations

import re
from decimal import Decimal

from domain.errors import InvalidInput

_SHAPE = re.compile(r"^[0-9]+(\.[0-9]+)?$")
MAX_FEN = 100_000_000  # 1,000,000.00 yuan: no contribution of one person comes near it


def parse_yuan(value: object, field: str = "amount", *, allow_zero: bool = False) -> int:
    """Yuan given as a string ("84.00", "84") or a JSON number (84, 84.5) -> fen.

    A JSON number arrives as int or float; a float is accepted only through its shortest
    repr ("84.5"), so 84.505 is refused rather than rounded.
    """
    if isinstance(value, bool):
        raise InvalidInput("must be an amount in yuan, not true/false", field, "money")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        text = repr(value)
    elif isinstance(value, Decimal):
        text = format(value, "f")
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidInput("must be an amount in yuan, like \"280.00\"", field, "money")
    if text.startswith("-"):
        raise InvalidInput(f"must be positive, got {text[:20]}", field, "money_positive")
    if not text.isascii() and any(ch.isdigit() and not ch.isascii() for ch in text):
        raise InvalidInput("must be typed with the digits 0-9 (a full-width or other script's digit was typed)",
                           field, "money")
    if not _SHAPE.fullmatch(text):
        raise InvalidInput(f"is not an amount in yuan like 280.00: {text[:20]!r}", field, "money")
    whole, _, frac = text.partition(".")
    if len(frac) > 2:
        raise InvalidInput(f"must have at most two decimals (fen), got {text[:20]}", field, "money_two_decimals")
    whole = whole.lstrip("0") or "0"
    fen = int(whole) * 100 + int((frac + "00")[:2]) if len(whole) <= 9 else MAX_FEN + 1
    if fen > MAX_FEN:
        raise InvalidInput(f"is too large: at most {yuan(MAX_FEN)} yuan", field, "money_range")
    if fen == 0 and not allow_zero:
        raise InvalidInput("must be more than 0.00", field, "money_positive")
    return fen


def yuan(fen: int) -> str:
    """280_00 -> "280.00": how the API and reports show money."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
