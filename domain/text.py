"""Free text that enters the ledger: names, receipt numbers, references, reasons, collection points.

Every such field passes one rule before it is written, because an event is kept for ever and a
bad character in one of them is a bad character in every report, export and log line after it:
- no control characters (NUL, tab, line breaks: a NUL cannot even be stored as PostgreSQL text),
  no bidirectional overrides or other invisible format characters (they make a name read as
  another), no unassigned, private-use or surrogate code points;
- something visible: a name of zero-width spaces is no name;
- a bound on the length, per field (a receipt number is not a megabyte).

Surrounding white space is trimmed; what is stored is the trimmed text.
"""

from __future__ import annotations

import unicodedata

from domain.errors import InvalidInput

# Field -> the longest text accepted, in characters. Names: the longest Chinese names, with a
# minority or foreign name written out, stay well under 50.
LIMITS = {
    "name": 50,
    "receipt_no": 64,
    "transaction_id": 64,
    "collection_point": 64,
    "department": 100,
    "reference": 100,
    "reason": 500,
    "source": 200,
    "evidence": 200,
    "file_name": 200,
    "notice_number": 100,
    "school": 100,
}
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_NAMES = {"Cc": "a control character", "Cf": "an invisible formatting character", "Cs": "a broken character",
          "Co": "a private-use character", "Cn": "an unassigned character", "Zl": "a line break",
          "Zp": "a paragraph break"}
# Letters that draw nothing (Hangul fillers, the braille blank): allowed inside a text, but a text
# of nothing else is as empty as one of spaces.
_BLANK_LETTERS = "\u115f\u1160\u3164\uffa0\u2800"
_WITHOUT_BLANKS = str.maketrans("", "", _BLANK_LETTERS)


def _describe(ch: str) -> str:
    kind = _NAMES[unicodedata.category(ch)]
    return f"{kind} (U+{ord(ch):04X})"


def clean_text(value: object, field: str, *, limit: int | None = None) -> str:
    """The trimmed text, or a refusal naming the field and the rule."""
    if not isinstance(value, str):
        raise InvalidInput("must be text", field, "text")
    text = value.strip()
    most = limit if limit is not None else LIMITS[field]
    if not text:
        raise InvalidInput("must not be empty", field, "required")
    if len(text) > most:
        raise InvalidInput(f"must be at most {most} characters, this one has {len(text)}", field, "text_length")
    # str.isprintable() is false exactly for the refused categories and for spaces other than
    # U+0020 (an ideographic space is allowed): look closer only then.
    if not text.isprintable():
        for ch in text:
            if unicodedata.category(ch) in _REFUSED_CATEGORIES:
                raise InvalidInput(f"contains {_describe(ch)}; type it again without it", field, "text_characters")
    if not text.isascii() and not text.translate(_WITHOUT_BLANKS).strip():
        raise InvalidInput("must contain visible characters", field, "text_visible")
    return text


def optional_text(value: object, field: str, *, limit: int | None = None) -> str | None:
    """As clean_text, for a field that may be absent (None or blank means absent)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return clean_text(value, field, limit=limit)
