"""Resident identity numbers (居民身份证号码) per GB 11643-1999, and the other documents.

Foreign permanent residents and Hong Kong, Macao and Taiwan residents enroll with other documents
(notices 002 and 004), so a person's identity is the pair (document type, number).
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

import msgspec

from domain.errors import InvalidInput

DOCUMENT_TYPES = {
    "resident_id": "居民身份证",
    "hk_macao_pass": "港澳居民来往内地通行证",
    "taiwan_pass": "台湾居民来往内地通行证",
    "foreign_permanent_residence": "外国人永久居留身份证",
}

EARLIEST_BIRTH = date(1900, 1, 1)  # nobody born earlier is alive to enroll (checked at registration)
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"  # ISO 7064 MOD 11-2: S mod 11 -> check character
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
_OTHER = re.compile(r"^[A-Z0-9]{6,20}$")


class ResidentId(msgspec.Struct, frozen=True):
    number: str
    birth_date: date
    sex: str  # "male" | "female", from the parity of the sequence code


def check_character(first17: str) -> str:
    return _CHECK[sum(int(d) * w for d, w in zip(first17, _WEIGHTS)) % 11]


def parse_resident_id(value: object, field: str = "id_number") -> ResidentId:
    if not isinstance(value, str):
        raise InvalidInput("must be an 18-character resident identity number", field, "id_number")
    return _parse_resident_id(value, field)


@lru_cache(maxsize=65536)  # a command parses the same number several times
def _parse_resident_id(value: str, field: str) -> ResidentId:
    number = value.strip().upper()  # a lower-case x is accepted and stored upper case
    if len(number) != 18:
        raise InvalidInput(
            f"must have 18 characters, this one has {len(number)}", field, "id_number_length"
        )
    if not _SHAPE.fullmatch(number):
        raise InvalidInput(_why_not_ascii(number) or "must be 17 digits followed by a digit or X", field,
                           "id_number_characters")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise InvalidInput(
            f"carries an impossible birth date {number[6:14]}", field, "id_number_birth_date"
        ) from None
    if born.year < 1850:  # not a date of the standard's era at all
        raise InvalidInput(f"carries an impossible birth date {number[6:14]}", field, "id_number_birth_date")
    expected = check_character(number[:17])
    if number[17] != expected:
        raise InvalidInput(
            "check character does not match (GB 11643 MOD 11-2): mistyped digit?",
            field,
            "id_number_checksum",
        )
    sex = "male" if int(number[16]) % 2 else "female"
    return ResidentId(number, born, sex)


def _why_not_ascii(text: str) -> str | None:
    """A number typed with full-width or another script's digits looks right on screen but is a
    different text: it would register a second person for the same citizen."""
    if any(ch.isdigit() and not ch.isascii() for ch in text):
        return "must be typed with the digits 0-9 (a full-width or other script's digit was typed)"
    return None


def normalise_document(document_type: str, number: object, field: str = "id_number") -> str:
    """The canonical form of a document number, validated for its type."""
    if document_type not in DOCUMENT_TYPES:
        raise InvalidInput(
            f"unknown document type {document_type!r}; one of {', '.join(DOCUMENT_TYPES)}",
            "document_type",
            "document_type",
        )
    if document_type == "resident_id":
        return parse_resident_id(number, field).number
    if not isinstance(number, str) or not _OTHER.fullmatch(number.strip().upper()):
        why = _why_not_ascii(number) if isinstance(number, str) else None
        raise InvalidInput(why or "must be 6 to 20 letters A-Z or digits 0-9", field, "document_number")
    return number.strip().upper()


def mask(number: str) -> str:
    """Identity numbers are personal data: show the first 6 and the last 4 only."""
    if len(number) <= 10:
        return "*" * len(number)
    return number[:6] + "*" * (len(number) - 10) + number[-4:]
