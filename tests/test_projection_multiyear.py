"""The report projection against brute force for multi-year histories under the 2025 continuity
rules (hypothesis): persons in two townships of Qingdao's 市南区 enrolling for 2025–2027 or not,
paying in the window or after it, repairing missed years, with cover recorded from elsewhere, while
the region's policies are loaded and loaded again (a second version with other waiting rules).

For random pairs (as of D, as known at T) and each year, every report read from the projection,
caught up at random points of the history, must equal the same report computed by folding every
person from the raw events with the policy versions known at T; and a rebuild from zero must give
the same rows.
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import Clock, _drop_schema, _postgres_env, make_id, stored_rows
from domain.errors import LedgerError
from domain.ledger import Actor, Ledger
from domain.policy_load import load_policy
from projections.brute import PeopleSource
from projections.people import all_people
from projections.queries import ViewSource
from projections.reports import REPORTS
from projections.service import Reports

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = (ROOT / "tests/fixtures/policies/3702-2027.toml").read_text(encoding="utf-8")
VILLAGES = ["370202001001", "370202001002", "370202002001"]
YEARS = [2025, 2026, 2027]
DAYS = st.dates(date(2024, 9, 1), date(2027, 12, 31))
CLERK = Actor("clerk-1", "collector", "QD-1")
BUREAU = Actor("officer-1", "bureau", "QD-B")
ADMIN = Actor("admin-1", "admin")
# A second version: other waiting rules, so that answers known before and after it differ.
VARIANTS = [
    [("fixed_months = 3", "fixed_months = 2"), ('resident = "400.00"', 'resident = "420.00"')],
    [('gap_formula = "gap_years_minus_one"', 'gap_formula = "gap_years"')],
    [('anchor = "payment_month"', 'anchor = "next_month"'), ('resident = "400.00"', 'resident = "380.00"')],
]


def policy_text(year: int, variant: int | None = None) -> str:
    """The Qingdao fixture carried to `year` (window September–December of the year before)."""
    text = (TEMPLATE.replace('id = "3702-2027"', f'id = "3702-{year}"').replace("year = 2027", f"year = {year}")
            .replace("opens = 2026-09-01", f"opens = {year - 1}-09-01")
            .replace("closes = 2026-12-31", f"closes = {year - 1}-12-31")
            .replace('paid_through = "2026-12-31"', f'paid_through = "{year - 1}-12-31"'))
    for old, new in VARIANTS[variant] if variant is not None else []:
        assert old in text
        text = text.replace(old, new)
    return text


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 10, tzinfo=timezone(timedelta(hours=8)))


command = st.one_of(
    st.tuples(st.just("enroll"), st.integers(0, 3), st.sampled_from(YEARS), DAYS),
    st.tuples(st.just("pay"), st.integers(0, 3), st.sampled_from(YEARS), DAYS, st.sampled_from(["all", "all", "100.00"])),
    st.tuples(st.just("repair"), st.integers(0, 3), st.sampled_from(YEARS[1:]), st.sampled_from(YEARS[:2]), DAYS),
    st.tuples(st.just("elsewhere"), st.integers(0, 3), st.sampled_from(["employee", "resident"]), DAYS,
              st.one_of(st.none(), st.integers(0, 500))),
    st.tuples(st.just("certify"), st.integers(0, 3), DAYS),
    st.tuples(st.just("cancel"), st.integers(0, 3), st.sampled_from(YEARS), DAYS),
    st.tuples(st.just("policy"), st.sampled_from(YEARS), st.integers(0, len(VARIANTS) - 1)),
    st.tuples(st.just("follow"),),
)
# A person's years: enrolled that many days after the window opens, paid in full that many days later.
years = st.lists(st.tuples(st.sampled_from(YEARS), st.integers(0, 400), st.one_of(st.none(), st.integers(0, 200))),
                 max_size=3)
history = st.tuples(
    st.lists(st.tuples(st.sampled_from(VILLAGES), st.sampled_from([date(1980, 1, 1), date(2025, 6, 1)]), years),
             min_size=1, max_size=4),
    st.lists(st.tuples(command, st.integers(1, 600)), min_size=1, max_size=30),
)


def record(ledger: Ledger, clock: Clock, reports: Reports, persons: list, commands: list) -> list[datetime]:
    for year in YEARS:
        load_policy(ledger, ADMIN, policy_text(year), file_name=f"3702-{year}.toml", notice_number="v1",
                    notice_date=date(2024, 8, 1))
    ids = []
    for village, born, enrolled in persons:
        number = make_id(born, "370202")
        ledger.register(CLERK, id_number=number, name="王芳", region=village)
        ids.append(number)
        for year, after, paid_after in enrolled:
            day = date(year - 1, 9, 1) + timedelta(days=after)
            try:
                ledger.enroll(CLERK, id_number=number, year=year, tier=1, enrolled_on=max(day, born),
                              cohort="newborn" if born.year == year else "resident")
                fen = ledger.coverage(number, year).outstanding_fen
                if paid_after is not None and fen:
                    ledger.pay(CLERK, id_number=number, year=year, amount=f"{fen // 100}.{fen % 100:02d}",
                               paid_at=_at(max(day, born) + timedelta(days=paid_after)), channel="wechat")
            except LedgerError:
                pass
    for (kind, *rest), gap in commands:
        clock.advance(minutes=gap)
        try:
            if kind == "follow":
                reports.follower.catch_up()
            elif kind == "policy":
                year, variant = rest
                load_policy(ledger, ADMIN, policy_text(year, variant), file_name=f"3702-{year}-v.toml",
                            notice_number=f"v{variant}", notice_date=date(2024, 8, 1))
            elif kind == "enroll":
                who, year, day = rest
                ledger.enroll(CLERK, id_number=ids[who % len(ids)], year=year, tier=1,
                              cohort="newborn" if ids[who % len(ids)][6:10] == "2025" and year == 2025 else "resident",
                              enrolled_on=day)
            elif kind == "pay":
                who, year, day, amount = rest
                number = ids[who % len(ids)]
                if amount == "all":
                    fen = ledger.coverage(number, year).outstanding_fen or 40000
                    amount = f"{fen // 100}.{fen % 100:02d}"
                ledger.pay(CLERK, id_number=number, year=year, amount=amount, paid_at=_at(day), channel="wechat")
            elif kind == "repair":
                who, year, missed, day = rest
                number = ids[who % len(ids)]
                view = ledger.coverage(number, year)
                ledger.pay(CLERK, id_number=number, year=year, amount=view.contribution_fen and
                           f"{view.contribution_fen // 100}.{view.contribution_fen % 100:02d}" or "400.00",
                           paid_at=_at(day), channel="wechat", repair_year=missed)
            elif kind == "elsewhere":
                who, scheme, first, days = rest
                ledger.record_coverage_elsewhere(BUREAU, id_number=ids[who % len(ids)], scheme=scheme,
                                                 region="370211" if scheme == "resident" else "370202", from_on=first,
                                                 to_on=None if days is None else first + timedelta(days=days),
                                                 source="全民参保数据库")
            elif kind == "certify":
                who, day = rest
                ledger.change_identity(BUREAU, id_number=ids[who % len(ids)], category="dibao", action="certify",
                                       effective_on=day)
            elif kind == "cancel":
                who, year, day = rest
                ledger.cancel(BUREAU, id_number=ids[who % len(ids)], year=year, reason="moved", effective_on=day)
        except LedgerError:
            pass  # refused by a rule: nothing written
    ns = ledger.store.recorder.select_notifications(start=1, limit=100_000)
    return sorted({ledger.store.mapper.to_domain_event(n).recorded_at for n in ns})


def second_versions(ledger: Ledger) -> list[datetime]:
    """When each later version of a policy was loaded: just before, reports use the first."""
    from domain.policy import loaded_versions

    return [v.recorded_at for v in loaded_versions() if v.version > 1]


@contextmanager
def recorded(backend: str, h: tuple) -> Iterator[tuple[Ledger, Reports, list[datetime]]]:
    if backend == "sqlite":
        folder = tempfile.mkdtemp()
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(folder) / "ledger.db")}
    else:
        env, schema = _postgres_env()
    clock = Clock(datetime(2028, 1, 1, tzinfo=timezone.utc))
    ledger = Ledger(env=env, clock=clock)
    reports = Reports(ledger.store, ledger.env)
    try:
        moments = record(ledger, clock, reports, *h)
        yield ledger, reports, moments
    finally:
        reports.close()
        ledger.close()
        if backend == "sqlite":
            shutil.rmtree(folder, ignore_errors=True)
        else:
            _drop_schema(schema)


def _brute(ledger: Ledger, kind: str, region: str, year: int, on: date, known_at: datetime | None) -> dict:
    compute, _ = REPORTS[kind]
    return compute(PeopleSource(list(all_people(ledger.store, on=on, known_at=known_at))), region, year, on)


EXAMPLES = {"sqlite": 80, "postgres": 15}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_multi_year_reports_equal_brute_force_with_policy_versions(backend):
    @settings(max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=list(HealthCheck))
    @given(history, st.data(), st.integers(1, 7))
    def check(h, data, batch):
        with recorded(backend, h) as (ledger, reports, moments):
            reports.follower.batch = batch
            reports.follower.catch_up()
            picks = data.draw(st.lists(st.sampled_from(moments), min_size=1, max_size=3)) + second_versions(ledger)
            for known_at in [None, *(m - timedelta(microseconds=1) for m in picks), *picks]:
                for on in data.draw(st.lists(DAYS, min_size=1, max_size=2)):
                    source = ViewSource(reports.views, known_at, ledger.store)
                    for year in YEARS:
                        for kind, (compute, _) in REPORTS.items():
                            for region in ("370202", "370202001"):
                                expected = _brute(ledger, kind, region, year, on, known_at)
                                assert compute(source, region, year, on) == expected, (kind, region, year, on, known_at)
                                if kind == "enrollment":
                                    total = expected["total"]
                                    reached.update(covered=total["covered"] > 0, undetermined=total["undetermined"] > 0,
                                                   paid_not_covered=total["paid"] > total["covered"])
                                    if known_at is not None and expected != _brute(ledger, kind, region, year, on, None):
                                        reached.update(changed_since=1)
            followed = stored_rows(reports.views)
            reports.follower.rebuild()
            assert stored_rows(reports.views) == followed

    reached: Counter[str] = Counter()
    check()
    if backend == "sqlite":
        assert reached["covered"] and reached["paid_not_covered"] and reached["changed_since"], reached
