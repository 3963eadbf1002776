"""Region codes (统计用区划代码): the reference data shipped in domain/data/regions.csv.

The file holds the notices' counties down to their townships as of 2022-10-31, and every other
district, county and township of Chongqing from the national statistics bureau's 2023 list
(2023-06-30), as the china-division package (npm) compiles it; the province demo draws its
counties from these.

A person's region is a 12-digit village code. Official village codes are not all public, so a
code is accepted when its first 9 digits are a known township (乡镇/街道).
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from domain.errors import InvalidInput

DATA_DIR = Path(__file__).parent / "data"
_VILLAGE = re.compile(r"^[0-9]{12}$")


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    parent_code: str
    level: str


@cache
def regions() -> dict[str, Region]:
    with open(DATA_DIR / "regions.csv", encoding="utf-8-sig", newline="") as f:
        return {r["code"]: Region(r["code"], r["name"], r["parent_code"], r["level"]) for r in csv.DictReader(f)}


def validate_village_code(value: object, field: str = "region") -> str:
    if not isinstance(value, str) or not _VILLAGE.fullmatch(value.strip()):
        raise InvalidInput("must be a 12-digit village code (村/社区 统计用区划代码)", field, "region_code")
    code = value.strip()
    township = regions().get(code[:9])
    if township is None or township.level != "township":
        raise InvalidInput(
            f"unknown region: township {code[:9]} is not in the ledger's region list", field, "region_known"
        )
    return code


def name_of(code: str) -> str:
    r = regions().get(code)
    return r.name if r else code
