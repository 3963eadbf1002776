"""Totals per region and day of the current belief: the reports of knowledge as it stands now, at
a cost that follows regions and days rather than persons.

For every level of the region code (province 2, prefecture 4, county 6, township 9, village 12)
that a report reads (KEPT_AT), the tables keep, per region of that level, coverage year, and the
other columns a report groups by, the change on each day of what the open person and payment rows
hold: a row true over days lo..hi adds its figures on day lo and takes them away on day hi + 1; a
person covered from benefit start to benefit end within the row's days is counted in `covered` the
same way. A report as of D sums the changes of days up to D, so it reads one line per region,
group and day that ever changed, however many persons stand behind them.

The enrollment report's assisted counts are by the notice in force for each village: the totals
keep the region of the most specific policy naming the village (any year's; see `policy_region`),
whose policy for any year is then the village's, and a report tells the groups apart by it.
Loading a policy for a region not named before changes that region for some villages: the totals
then no longer answer (`valid`), and the follower makes them again from the rows.

The follower keeps them in the same transaction as the rows and the position
(projections/viewstore.py), from the rows a batch replaces and the rows it writes; a rebuild makes
them once at the end from all the rows (`recompute`). Past moments of knowledge (`known_at`) are
read from the rows themselves (projections/queries.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from domain.policy import _FORGET, all_policies
from projections.intervals import OPEN_DAY, ROOT

LEVELS = (2, 4, 6, 9, 12)
NAME = "reports"

# (table, key columns, figure columns). The key's first three are level, region and year.
PERSON = ("person_totals", ["level", "region", "year", "policy_region", "categories", "day"],
          ["persons", "enrolled", "paid", "covered", "undetermined", "owed_unknown"])
SUBSIDY = ("subsidy_totals", ["level", "region", "year", "funder", "funder_name", "category", "day"],
           ["persons", "fen"])
PAYMENT = ("payment_totals", ["level", "region", "year", "pay_day", "channel", "collection_point", "day"],
           ["payments", "fen"])
CHANNEL = ("channel_totals", ["level", "region", "year", "channel", "day"], ["payments", "fen"])
TABLES = (PERSON, SUBSIDY, PAYMENT, CHANNEL)

# The levels each table is kept at. Payments by day and collection point answer a county and the
# regions within it; a province or prefecture is answered per child region and channel, from the
# levels of its children (prefecture 4, county 6), so its cost follows counties, not collection
# points and days.
KEPT_AT = {"person_totals": LEVELS, "subsidy_totals": LEVELS, "payment_totals": (6, 9, 12), "channel_totals": (4, 6)}
POINT_LEVEL = KEPT_AT["payment_totals"][0]  # the coarsest region listed by day and collection point

# Totals kept under another shape of these tables are made again, as for a newly named region.
SHAPE = "2"
_TEXT = {"region", "policy_region", "categories", "funder", "funder_name", "category", "channel", "collection_point"}

# What the totals read of a person row and of a payment row, in this order.
PERSON_READ = ["eff_lo", "eff_hi", "year", "region", "enrolled", "paid", "benefit_start", "benefit_end", "categories",
               "funder", "funder_name", "category", "subsidy_fen", "undetermined", "owed_unknown"]
PAYMENT_READ = ["eff_lo", "eff_hi", "year", "region", "day", "channel", "collection_point", "amount_fen"]


@lru_cache(maxsize=65536)
def policy_region(village: str) -> str:
    """The longest region code that any policy (of any year) names and the village's code begins
    with; "" where none does. Every policy whose region prefixes the village prefixes this one too,
    so for each year the policy of this region is the village's own."""
    return max((p.region for p in all_policies() if village.startswith(p.region)), key=len, default="")


def policy_signature() -> str:
    """The shape of the tables and the regions the policies name: the totals were kept in this
    shape and keyed by `policy_region` under these regions."""
    return f"shape {SHAPE}: " + " ".join(sorted({p.region for p in all_policies()}))


_FORGET.append(policy_region.cache_clear)  # a policy loaded for a new region changes the answer


def table_statements(postgres: bool) -> list[str]:
    """The three tables and the state that says at which position and under which policies they
    were kept."""
    def kind(column: str) -> str:
        if column == "region" and postgres:
            # Byte order: a report's "codes beginning with" is then a range of the key's index
            # (under the database's own collation LIKE reads every line of the level).
            return 'text COLLATE "C"'
        return "text" if column in _TEXT else ("int8" if postgres else "INTEGER")

    statements = []
    for table, keys, figures in TABLES:
        columns = ", ".join(f"{c} {kind(c)} NOT NULL" for c in keys + figures)
        statements.append(f"CREATE TABLE IF NOT EXISTS {{s}}{table} ({columns}, PRIMARY KEY ({', '.join(keys)}))")
    statements.append("CREATE TABLE IF NOT EXISTS {s}totals_state (name text PRIMARY KEY, position "
                      f"{kind('position')} NOT NULL, policy_regions text NOT NULL)")
    return statements


Changes = dict[tuple, list[int]]


def _add(into: Changes, key: tuple, figures: Iterable[int]) -> None:
    found = into.get(key)
    if found is None:
        into[key] = list(figures)
    else:
        for i, v in enumerate(figures):
            found[i] += v


def person_changes(rows: Iterable[tuple], sign: int, people: Changes, subsidies: Changes) -> None:
    """Add the day changes of open person rows (PERSON_READ order), signed: +1 for rows written,
    -1 for rows replaced."""
    for lo, hi, year, village, enrolled, paid, start, end, categories, funder, funder_name, category, fen, \
            undetermined, owed in rows:
        days = [(lo, sign)] if hi >= OPEN_DAY else [(lo, sign), (hi + 1, -sign)]
        covered_lo, covered_hi = max(lo, start), min(hi, end)
        covered = ([] if not start or covered_lo > covered_hi else
                   [(covered_lo, sign)] if covered_hi >= OPEN_DAY else [(covered_lo, sign), (covered_hi + 1, -sign)])
        spent = bool(category) and (paid or not enrolled)
        governing = policy_region(village)
        for level in LEVELS:
            region = village[:level]
            for day, s in days:
                _add(people, (level, region, year, governing, categories, day),
                     (s, s * enrolled, s * paid, 0, s * undetermined, s * owed))
                if spent:
                    _add(subsidies, (level, region, year, funder, funder_name, category, day), (s, s * fen))
            for day, s in covered:
                _add(people, (level, region, year, governing, categories, day), (0, 0, 0, s, 0, 0))


def payment_changes(rows: Iterable[tuple], sign: int, payments: Changes, channels: Changes) -> None:
    """Add the day changes of open payment rows (PAYMENT_READ order): by day and collection point,
    and by channel alone."""
    for lo, hi, year, village, pay_day, channel, point, fen in rows:
        days = [(lo, sign)] if hi >= OPEN_DAY else [(lo, sign), (hi + 1, -sign)]
        for day, s in days:
            for level in KEPT_AT["payment_totals"]:
                _add(payments, (level, village[:level], year, pay_day, channel, point, day), (s, s * fen))
            for level in KEPT_AT["channel_totals"]:
                _add(channels, (level, village[:level], year, channel, day), (s, s * fen))


def level_for(region: str) -> int | None:
    """The level whose regions a report of `region` reads: its own, or the next finer one."""
    return next((level for level in LEVELS if level >= len(region)), None)


def child_level(region: str) -> int:
    """The level of a region's children: a province's prefectures, a prefecture's counties."""
    return next(level for level in LEVELS if level > len(region))


def recompute_statements(postgres: bool, schema: str, person_rows: str, payment_rows: str) -> list[str]:
    """SQL that makes the totals again from the open rows: the villages' day changes, summed, then
    each coarser level from the villages'. `village_policy` (region, policy_region) must hold
    every village of the rows."""
    greatest, least = ("GREATEST", "LEAST") if postgres else ("max", "min")
    s = schema
    person_figures = PERSON[2]
    person = (
        f"INSERT INTO {s}person_totals SELECT 12, region, year, policy_region, categories, day,"
        f" {', '.join(f'sum({f})' for f in person_figures)} FROM ("
        # The row's figures from its first day, and away again the day after its last.
        f" SELECT r.region, year, v.policy_region, categories, eff_lo AS day, 1 AS persons, enrolled, paid,"
        f" 0 AS covered, undetermined, owed_unknown FROM {person_rows} r JOIN {s}village_policy v ON v.region = r.region"
        f" WHERE node = {ROOT}"
        f" UNION ALL SELECT r.region, year, v.policy_region, categories, eff_hi + 1, -1, -enrolled, -paid, 0,"
        f" -undetermined, -owed_unknown FROM {person_rows} r JOIN {s}village_policy v ON v.region = r.region"
        f" WHERE node = {ROOT} AND eff_hi < {OPEN_DAY}"
        # Covered from the later of the row's first day and the benefit start, to the earlier of
        # its last day and the benefit end.
        f" UNION ALL SELECT r.region, year, v.policy_region, categories, {greatest}(eff_lo, benefit_start), 0, 0, 0, 1,"
        f" 0, 0 FROM {person_rows} r JOIN {s}village_policy v ON v.region = r.region WHERE node = {ROOT}"
        f" AND benefit_start > 0 AND {greatest}(eff_lo, benefit_start) <= {least}(eff_hi, benefit_end)"
        f" UNION ALL SELECT r.region, year, v.policy_region, categories, {least}(eff_hi, benefit_end) + 1, 0, 0, 0, -1,"
        f" 0, 0 FROM {person_rows} r JOIN {s}village_policy v ON v.region = r.region WHERE node = {ROOT}"
        f" AND benefit_start > 0 AND {greatest}(eff_lo, benefit_start) <= {least}(eff_hi, benefit_end)"
        f" AND {least}(eff_hi, benefit_end) < {OPEN_DAY}"
        f") AS changes GROUP BY region, year, policy_region, categories, day"
        f" HAVING {' OR '.join(f'sum({f}) <> 0' for f in person_figures)}"
    )
    spent = f"node = {ROOT} AND category <> '' AND (paid = 1 OR enrolled = 0)"
    subsidy = (
        f"INSERT INTO {s}subsidy_totals SELECT 12, region, year, funder, funder_name, category, day, sum(persons),"
        f" sum(fen) FROM ("
        f" SELECT region, year, funder, funder_name, category, eff_lo AS day, 1 AS persons, subsidy_fen AS fen"
        f" FROM {person_rows} WHERE {spent}"
        f" UNION ALL SELECT region, year, funder, funder_name, category, eff_hi + 1, -1, -subsidy_fen"
        f" FROM {person_rows} WHERE {spent} AND eff_hi < {OPEN_DAY}"
        f") AS changes GROUP BY region, year, funder, funder_name, category, day HAVING sum(persons) <> 0 OR sum(fen) <> 0"
    )
    payment = (
        f"INSERT INTO {s}payment_totals SELECT 12, region, year, pay_day, channel, collection_point, day,"
        f" sum(payments), sum(fen) FROM ("
        f" SELECT region, year, day AS pay_day, channel, collection_point, eff_lo AS day, 1 AS payments,"
        f" amount_fen AS fen FROM {payment_rows} WHERE node = {ROOT}"
        f" UNION ALL SELECT region, year, day, channel, collection_point, eff_hi + 1, -1, -amount_fen"
        f" FROM {payment_rows} WHERE node = {ROOT} AND eff_hi < {OPEN_DAY}"
        f") AS changes GROUP BY region, year, pay_day, channel, collection_point, day"
        f" HAVING sum(payments) <> 0 OR sum(fen) <> 0"
    )
    statements = [f"DELETE FROM {s}{table}" for table, _, _ in TABLES] + [person, subsidy, payment]

    def coarser(table: str, keys: list[str], figures: list[str], level: int, source: str, finer: int) -> str:
        rest = ", ".join(keys[2:])
        return (f"INSERT INTO {s}{table} SELECT {level}, substr(region, 1, {level}), {rest},"
                f" {', '.join(f'sum({f})' for f in figures)} FROM {s}{source} WHERE level = {finer}"
                f" GROUP BY substr(region, 1, {level}), {rest}"
                f" HAVING {' OR '.join(f'sum({f}) <> 0' for f in figures)}")

    for table, keys, figures in (PERSON, SUBSIDY, PAYMENT):  # each coarser level from the villages'
        statements += [coarser(table, keys, figures, level, table, 12) for level in KEPT_AT[table][-2::-1]]
    channel, keys, figures = CHANNEL
    finest, *rest = KEPT_AT[channel][::-1]
    statements.append(coarser(channel, keys, figures, finest, PAYMENT[0], finest))
    statements += [coarser(channel, keys, figures, level, channel, finest) for level in rest]
    return statements


def upsert_statement(table: str, keys: list[str], figures: list[str], postgres: bool, source: str | None = None) -> str:
    """Add changes to the totals: from VALUES (SQLite) or from a loaded table (PostgreSQL)."""
    columns = keys + figures
    added = ", ".join(f"{f} = t.{f} + excluded.{f}" for f in figures)
    values = f"SELECT {', '.join(columns)} FROM {source}" if source else \
        f"VALUES ({', '.join('?' * len(columns))})"
    # SQLite's parser needs a WHERE to tell an upsert's SELECT from a join.
    where = " WHERE true" if source and not postgres else ""
    return (f"INSERT INTO {table} AS t ({', '.join(columns)}) {values}{where}"
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {added}")


def flat(changes: Changes) -> list[tuple[Any, ...]]:
    """The changes as table values, leaving out those that cancel out."""
    return [key + tuple(figures) for key, figures in changes.items() if any(figures)]
