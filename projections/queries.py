"""The reports' figures read from the projection's rows: "as of D, as known at T" is a query.

Each method answers what a report groups, for one region, year, effective date D and recording
time T, from the row versions believed at T (projections/intervals.py) whose days hold D.
projections/brute.py answers the same questions by folding every person: the tests hold the two
equal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, datetime
from typing import Any

from collections.abc import Iterable, Iterator
from uuid import UUID

from domain.coverage import CoverageView, enrollment_view
from domain.dates import rest_of_year
from domain.person import Person, fold
from domain.store import EventStore
from projections.intervals import OPEN, ROOT, micros, path
from projections.assisted import is_assisted
from projections.enrollment import awaiting_amount
from projections.rows import ASSISTED, held_elsewhere
from projections.totals import KEPT_AT, LEVELS, child_level, level_for
from projections.viewstore import LEFT_OF_ROOT, ViewStore


# What the enrollment report counts of a group of person rows (two parameters: the day D, twice).
# Grouped by the categories held too, which the village's policy tells assisted or not.
_FIGURES = ("sum(enrolled), sum(paid),"
            " sum(CASE WHEN benefit_start > 0 AND benefit_start <= ? AND benefit_end >= ? THEN 1 ELSE 0 END),"
            " sum(undetermined), sum(owed_unknown), count(*)")


class ViewSource:
    def __init__(self, views: ViewStore, known_at: datetime | None = None, store: EventStore | None = None):
        self.views = views
        self.known_at, self.store = known_at, store
        self.q = OPEN if known_at is None else micros(known_at)
        self._totals: bool | None = None

    def totals(self) -> bool:
        """Whether this question is of the current belief and the totals answer it (asked once)."""
        if self._totals is None:
            self._totals = self.q == OPEN and self.views.totals_ready()
        return self._totals

    def _in_region(self, region: str) -> tuple[str, list[str]]:
        """A code-prefix condition on `region`, as a range of its index. Region codes are digits,
        which every collation orders as bytes; under PostgreSQL's collations other than C, LIKE
        'code%' would read the whole year of the index and filter (the cash receipts of a
        township read every cash payment of the province)."""
        return "region >= ? AND region < ?", [region, region[:-1] + chr(ord(region[-1]) + 1)]

    def _believed(self, table: str, columns: str, years: tuple[int, ...], region: str, on: date) -> tuple[str, list[Any]]:
        """The rows of `table` believed at T and true on D: two index ranges per tree node."""
        left, right = path(self.q)
        d = on.toordinal()
        year_list = ",".join(str(int(y)) for y in years)
        common = f"year IN ({year_list}) AND eff_lo <= ? AND eff_hi >= ? AND region LIKE ?"
        parts, params = [], []
        if left:
            # LEFT_OF_ROOT holds for every left node; said, it lets the database use the closed rows' index.
            parts.append(f"SELECT {columns} FROM {table} WHERE node IN ({','.join(map(str, left))}) AND {LEFT_OF_ROOT}"
                         f" AND rec_hi >= ? AND {common}")
            params += [self.q, d, d, region + "%"]
        parts.append(f"SELECT {columns} FROM {table} WHERE node IN ({','.join(map(str, right))}) AND rec_lo <= ? AND {common}")
        params += [self.q, d, d, region + "%"]
        return " UNION ALL ".join(parts), params

    def enrollment_counts(self, region: str, width: int, year: int, on: date) -> dict[str, Counter[str]]:
        counts = None
        if width in LEVELS and len(region) < width and self.totals():
            counts = self._total_counts(region, width, year, on)
        elif self.q == OPEN:
            try:
                counts = self._current_counts(region, width, year, on)
            except Exception as e:  # noqa: BLE001 - the index is missing while a rebuild loads the rows
                if "no such index" not in str(e):
                    raise
        if counts is None:
            counts = self._believed_counts(region, width, year, on)
        for village, _ in self._assisted_insured_elsewhere(region, year, on):
            c = counts[village[:width]]
            c["assisted"] -= 1  # not 应保 here (SPEC Decision 15)
            if c.keys() == {"assisted"} and not c["assisted"]:
                del counts[village[:width]]  # only such persons, and none with the year's rows: no row
        return counts

    def _total_counts(self, region: str, width: int, year: int, on: date) -> dict[str, Counter[str]]:
        """Known now, from the totals of the child regions' level: the day changes up to D, summed
        per child, year, governing policy region and categories held."""
        where, params = self._in_region(region)
        sql = (f"SELECT year, region, policy_region, categories, sum(enrolled), sum(paid), sum(covered),"
               f" sum(undetermined), sum(owed_unknown), sum(persons) FROM {self.views.schema}person_totals"
               f" WHERE level = ? AND year IN (?, ?) AND {where} AND day <= ?"
               " GROUP BY year, region, policy_region, categories HAVING sum(persons) <> 0")
        return self._summed(self.views.query(sql, [width, year, ASSISTED, *params, on.toordinal()]), width, year)

    def _current_counts(self, region: str, width: int, year: int, on: date) -> dict[str, Counter[str]]:
        """Known now: the open rows, filed at the root, read per village in region order through
        their own index (no sort), summed per child region here."""
        d = on.toordinal()
        where, params = self._in_region(region)
        # Told, on SQLite, since its statistics make the tree index look as good: it is not, as it
        # needs a sort (560-620 ms against 280 at full scale).
        indexed = "" if self.views.postgres else " INDEXED BY person_rows_open"
        sql = (f"SELECT year, region, region, categories, {_FIGURES} FROM {self.views.person_rows}{indexed}"
               f" WHERE node = {ROOT} AND year IN (?, ?) AND {where} AND eff_lo <= ? AND eff_hi >= ?"
               " GROUP BY year, region, categories")
        return self._summed(self.views.query(sql, [d, d, year, ASSISTED, *params, d, d]), width, year)

    @staticmethod
    def _summed(groups: Iterable[tuple], width: int, year: int) -> dict[str, Counter[str]]:
        """Per child region, the figures of groups of (year, region, governing region, categories):
        assisted by the policy of the governing region (the village, or the region whose policies
        are the village's), its 100% groups; a person-level row exists only while a category is held."""
        counts: dict[str, Counter[str]] = {}
        for y, region, governing, categories, enrolled, paid, covered, undetermined, owed_unknown, n in groups:
            assisted = is_assisted(governing, year, categories)
            if y == ASSISTED:
                if assisted:
                    counts.setdefault(region[:width], Counter())["assisted"] += int(n)
            else:
                counts.setdefault(region[:width], Counter()).update(
                    enrolled=int(enrolled), paid=int(paid), covered=int(covered), undetermined=int(undetermined),
                    payable_undetermined=int(owed_unknown),
                    assisted_enrolled=int(paid) if assisted else 0)
        return counts

    def _believed_counts(self, region: str, width: int, year: int, on: date) -> dict[str, Counter[str]]:
        d = on.toordinal()
        rows, params = self._believed(
            self.views.person_rows,
            "year, region, enrolled, paid, benefit_start, benefit_end, categories, undetermined, owed_unknown",
            (year, ASSISTED), region, on)
        sql = (f"SELECT year, region, region, categories, {_FIGURES}"
               f" FROM ({rows}) AS believed GROUP BY year, region, categories")
        return self._summed(self.views.query(sql, [d, d, *params]), width, year)

    def _assisted_insured_elsewhere(self, region: str, year: int, on: date) -> list[tuple[str, Any]]:
        """(village, person) of assisted persons insured elsewhere over the rest of the year and not
        paid here. They are few: read through their own small index, tested for belief at T and
        truth on D here, apart from the counts, which stay in the covering index."""
        d, q = on.toordinal(), self.q
        true_then = "rec_lo <= ? AND rec_hi >= ? AND eff_lo <= ? AND eff_hi >= ?"
        first, last = (day.toordinal() for day in rest_of_year(on, year))
        held = {person: village for person, village, elsewhere, categories in self.views.query(
                    f"SELECT person, region, elsewhere, categories FROM {self.views.person_rows} WHERE year = ?"
                    f" AND elsewhere <> '' AND region LIKE ? AND {true_then}", [ASSISTED, region + "%", q, q, d, d])
                if held_elsewhere(elsewhere, first, last) and is_assisted(village, year, categories)}
        if not held:
            return []
        people = list(held)
        marks = ", ".join("?" * len(people))
        paid = {person for person, p in self.views.query(
                    f"SELECT person, paid FROM {self.views.person_rows} WHERE person IN ({marks})"
                    f" AND year = ? AND {true_then}", [*people, year, q, q, d, d]) if p}
        return [(village, person) for person, village in held.items() if person not in paid]

    def subsidy_groups(self, region: str, year: int, on: date) -> tuple[dict[tuple[str, str], list[int]], dict[str, str]]:
        level = level_for(region)
        if level is not None and self.totals():
            where, params = self._in_region(region)
            sql = (f"SELECT funder, funder_name, category, sum(persons), sum(fen) FROM {self.views.schema}subsidy_totals"
                   f" WHERE level = ? AND year = ? AND {where} AND day <= ? GROUP BY funder, funder_name, category"
                   " HAVING sum(persons) <> 0")
            params = [level, year, *params, on.toordinal()]
        else:
            rows, params = self._believed(self.views.person_rows,
                                          "funder, funder_name, category, subsidy_fen, paid, enrolled", (year,), region, on)
            # A subsidy is spent when the enrollment is paid (SPEC Decision 14); a full subsidy pays
            # it. A row no longer enrolled carries one only where its cover had begun
            # (CoverageView.subsidy_spent). The totals count the same rows (projections/totals.py).
            sql = (f"SELECT funder, funder_name, category, count(*), sum(subsidy_fen) FROM ({rows}) AS believed"
                   " WHERE (paid = 1 OR enrolled = 0) AND category <> '' GROUP BY funder, funder_name, category")
        groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        names: dict[str, str] = {}
        for funder, name, category, n, fen in self.views.query(sql, params):
            names[funder] = name
            entry = groups[(funder, category)]
            entry[0] += int(n)
            entry[1] += int(fen)
        for person, view in self._folded(region, year, on, "amount_unknown = 1"):
            awaiting_amount(groups, names, person, view)
        return groups, names

    def _folded(self, region: str, year: int, on: date, where: str) -> Iterator[tuple[Person, CoverageView]]:
        """The persons whose believed row meets `where`, folded from their events (read in pages of
        1,000 streams): for what the rows do not hold."""
        assert self.store is not None, "this report reads the persons' events"
        if self.q == OPEN and where == "amount_unknown = 1":
            # Known now: the few such persons, through their own index.
            inside, more = self._in_region(region)
            d = on.toordinal()
            found = self.views.query(f"SELECT person FROM {self.views.person_rows} WHERE year = ? AND {inside}"
                                     f" AND amount_unknown = 1 AND node = {ROOT} AND eff_lo <= ? AND eff_hi >= ?",
                                     [year, *more, d, d])
        else:
            rows, params = self._believed(self.views.person_rows, "person, enrolled, amount_unknown", (year,), region, on)
            found = self.views.query(f"SELECT person FROM ({rows}) AS r WHERE {where}", params)
        persons = [UUID(str(p)) for p, in found]
        for start in range(0, len(persons), 1000):
            for pid, events in self.store.select_streams(persons[start:start + 1000]).items():
                person = fold(pid, events, on=on, known_at=self.known_at)
                yield person, enrollment_view(person, year, on, explain=False)

    def payment_groups(self, region: str, year: int, on: date) -> dict[tuple[str, str, str], list[Any]]:
        level = level_for(region)
        if level in KEPT_AT["payment_totals"] and self.totals():
            return self._total_payments(region, level, year, on)
        rows, params = self._believed(self.views.payment_rows, "day, channel, collection_point, amount_fen, receipt_no",
                                      (year,), region, on)
        groups: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, 0, []])
        for day, channel, point, fen, receipt in self.views.query(rows, params):
            entry = groups[(date.fromordinal(day).isoformat(), channel, point)]
            entry[0] += 1
            entry[1] += int(fen)
            if channel == "cash":
                entry[2].append(receipt)
        return groups

    def _total_payments(self, region: str, level: int, year: int, on: date) -> dict[tuple[str, str, str], list[Any]]:
        """Known now: payments and amounts from the totals, the cash receipts from the few cash rows."""
        where, params = self._in_region(region)
        d = on.toordinal()
        groups: dict[tuple[str, str, str], list[Any]] = {}
        for day, channel, point, n, fen in self.views.query(
                f"SELECT pay_day, channel, collection_point, sum(payments), sum(fen)"
                f" FROM {self.views.schema}payment_totals WHERE level = ? AND year = ? AND {where} AND day <= ?"
                " GROUP BY pay_day, channel, collection_point HAVING sum(payments) <> 0", [level, year, *params, d]):
            groups[(date.fromordinal(day).isoformat(), channel, point)] = [int(n), int(fen), []]
        for day, point, receipt in self.views.query(
                f"SELECT day, collection_point, receipt_no FROM {self.views.payment_rows} WHERE year = ? AND {where}"
                f" AND channel = 'cash' AND node = {ROOT} AND eff_lo <= ? AND eff_hi >= ?", [year, *params, d, d]):
            groups[(date.fromordinal(day).isoformat(), "cash", point)][2].append(receipt)
        return groups

    def channel_groups(self, region: str, year: int, on: date) -> dict[tuple[str, str], list[int]]:
        width = child_level(region)
        if self.totals():
            where, params = self._in_region(region)
            sql = (f"SELECT region, channel, sum(payments), sum(fen) FROM {self.views.schema}channel_totals"
                   f" WHERE level = ? AND year = ? AND {where} AND day <= ? GROUP BY region, channel"
                   " HAVING sum(payments) <> 0")
            params = [width, year, *params, on.toordinal()]
        else:
            rows, params = self._believed(self.views.payment_rows, "region, channel, amount_fen", (year,), region, on)
            sql = (f"SELECT substr(region, 1, {width}), channel, count(*), sum(amount_fen) FROM ({rows}) AS believed"
                   f" GROUP BY substr(region, 1, {width}), channel")
        return {(child, channel): [int(n), int(fen)] for child, channel, n, fen in self.views.query(sql, params)}

    def unenrolled_assisted(self, region: str, year: int, on: date) -> list[tuple[str, str, str, str, str]]:
        """(village, masked id number, name, categories, enrollment) of assisted persons not enrolled
        and paid on D (应保未保); enrollment is "not_enrolled" or "enrolled_unpaid". A person insured
        elsewhere on a day of the year still ahead is not 应保 here (SPEC Decision 15)."""
        assisted, params = self._believed(self.views.person_rows, "person, region, id_mask, name, categories, elsewhere",
                                          (ASSISTED,), region, on)
        enrolled, more = self._believed(self.views.person_rows, "person, enrolled, paid", (year,), region, on)
        # Two scans joined here: the database, asked to join the two unions, looped over one per
        # row of the other (minutes at a county's size, bench/RESULTS.md).
        standing = {person: (enrolled, paid) for person, enrolled, paid in self.views.query(enrolled, more)}
        first, last = (d.toordinal() for d in rest_of_year(on, year))
        found = []
        for person, village, id_mask, name, categories, elsewhere in self.views.query(assisted, params):
            is_enrolled, paid = standing.get(person, (0, 0))
            if not is_assisted(village, year, categories):
                continue
            if not paid and not (elsewhere and held_elsewhere(elsewhere, first, last)):
                found.append((village, id_mask, name, categories, "enrolled_unpaid" if is_enrolled else "not_enrolled"))
        return found

    def payable(self, region: str, year: int, on: date) -> Iterator[tuple[Person, CoverageView]]:
        """Each enrollment not cancelled on D: the rows choose the persons, and their events, read in
        pages of 1,000 streams, give the figures by the same fold as the coverage answer (the
        export carries full identity numbers, which the rows do not hold)."""
        for person, view in self._folded(region, year, on, "enrolled = 1"):
            if view.enrolled:
                yield person, view
