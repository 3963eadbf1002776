"""Reference data shipped with the product: target tables per region and year, region names."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from functools import cache

import msgspec

from domain.regions import DATA_DIR, regions


class TableSpec(msgspec.Struct, forbid_unknown_fields=True):
    file: str
    region: str
    year: int
    population_column: str
    target_column: str
    printed_population: int | None = None
    printed_target: int | None = None
    text_target: int | None = None


class _Specs(msgspec.Struct):
    table: list[TableSpec]


@dataclass
class TargetRow:
    code: str
    name: str
    population: int
    target: int


@dataclass
class TargetTable:
    region: str
    year: int
    rows: list[TargetRow]
    warnings: list[str] = field(default_factory=list)


def _check_totals(spec: TableSpec, rows: list[TargetRow]) -> list[str]:
    warnings = []
    population, target = sum(r.population for r in rows), sum(r.target for r in rows)
    if spec.printed_population is not None and population != spec.printed_population:
        warnings.append(
            f"the population column of {spec.file} sums to {population:,} while the notice prints {spec.printed_population:,}"
        )
    if spec.printed_target is not None and target != spec.printed_target:
        text = f" (and its text says {spec.text_target:,})" if spec.text_target else ""
        warnings.append(
            f"the {spec.year} target column sums to {target:,} while the notice prints {spec.printed_target:,}{text}"
        )
    elif spec.text_target is not None and spec.text_target != target:
        warnings.append(f"the {spec.year} target table sums to {target:,} while the notice's text says {spec.text_target:,}")
    return warnings


@cache
def target_tables() -> dict[tuple[str, int], TargetTable]:
    specs = msgspec.toml.decode((DATA_DIR / "target_tables.toml").read_bytes(), type=_Specs)
    tables = {}
    for spec in specs.table:
        with open(DATA_DIR / spec.file, encoding="utf-8-sig", newline="") as f:
            rows = [
                TargetRow(r["region_code"], r["region_name"], int(r[spec.population_column]), int(r[spec.target_column]))
                for r in csv.DictReader(f)
            ]
        tables[(spec.region, spec.year)] = TargetTable(spec.region, spec.year, rows, _check_totals(spec, rows))
    return tables


def child_regions(region: str, year: int) -> list[tuple[str, str]]:
    """(code, name) of the regions one level below: the target table's, else the region list's."""
    table = target_tables().get((region, year))
    if table is not None:
        return [(r.code, r.name) for r in table.rows]
    return [(r.code, r.name) for r in regions().values() if r.parent_code == region]


@cache
def _names_from_tables() -> dict[str, str]:
    return {r.code: r.name for table in target_tables().values() for r in table.rows}


def known_name(code: str) -> str:
    """A region's name from the target tables shipped (villages) or the region list; empty if neither knows it."""
    return _names_from_tables().get(code) or (regions()[code].name if code in regions() else "")


def region_name(code: str) -> str:
    """A region's name for a heading: the code where no name is known."""
    return known_name(code) or code
