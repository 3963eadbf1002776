"""The report totals (projections/totals.py) against the rows they sum and against brute force.

Random histories (those of test_projection_properties: late payments, partial payments, identity
categories certified, ended and retracted, cancellations, departures, voided and moved payments,
corrections, cover held elsewhere, Chuxiong's waivers and 据实 subsidies) are followed in small
batches, so the totals are kept batch by batch from the rows each batch replaces; some histories
load a township's own policy part-way (a region no policy named before, with other 100% groups).
Then for several dates every report known now, at every level from the province to the village,
must be the same from the totals, from the rows, and from folding every person; and the totals
kept batch by batch must be those made again from the rows at once.
"""

from __future__ import annotations

from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import BUREAU
from domain.dates import CHINA
from domain.ledger import Actor
from domain.policy_load import load_policy
from projections.queries import ViewSource
from projections.reports import REPORTS
from projections.totals import TABLES
from test_projection_properties import DAYS, EXAMPLES, _brute, family_history, history, recorded

REGIONS = ("50", "5001", "500114", "500114001", "500114002", "500114001001", "43", "430623110", "53", "532301")
QIANJIANG_POLICY = "domain/policies/500114-2021.toml"


def township_policy() -> str:
    """A policy of township 500114001 for 2021 whose only 100% group is dibao: its villages' assisted
    counts change when it is loaded, and the totals are keyed by a region they did not know."""
    from tests.test_cli import ROOT

    text = (ROOT / QIANJIANG_POLICY).read_text(encoding="utf-8")
    text = text.replace('id = "500114-2021"', 'id = "500114001-2021"').replace('region = "500114"', 'region = "500114001"')
    head, rest = text.split("assisted_groups = [", 1)
    return head + 'assisted_groups = ["dibao"]' + rest.split("]", 1)[1]


def dump(views) -> list[tuple]:
    return sorted(tuple(str(v) for v in row) for table, _, _ in TABLES
                  for row in views.query(f"SELECT '{table}', * FROM {views.schema}{table}", []))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_totals_equal_rows_and_brute_force_at_every_level(backend):
    @settings(max_examples=EXAMPLES[backend], deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(history, family_history), st.data(), st.integers(1, 7), st.booleans())
    def check(h, data, batch, township):
        with recorded(backend, h) as (ledger, reports, _):
            views, follower = reports.views, reports.follower
            views.recompute_totals()  # kept from the first batch on
            follower.batch = batch
            for _ in range(data.draw(st.integers(0, 4))):
                follower.step()
            if township:
                load_policy(ledger, Actor("admin", "admin"), township_policy(), file_name="500114001-2021.toml",
                            notice_number="test", notice_date=date(2020, 8, 1))
            while follower.step():
                pass
            assert views.totals_ready() is not township  # a new region: the totals are made again
            follower.catch_up()
            assert views.totals_ready()
            kept = dump(views)
            views.recompute_totals()
            assert dump(views) == kept, "totals kept batch by batch differ from those made at once"

            for on in data.draw(st.lists(DAYS, min_size=1, max_size=3)):
                from_totals = ViewSource(views, None, ledger.store)
                assert from_totals.totals()
                from_rows = ViewSource(views, None, ledger.store)
                from_rows._totals = False
                for kind, (compute, _) in REPORTS.items():
                    for region in REGIONS:
                        expected = _brute(ledger, kind, region, on, None)
                        assert compute(from_rows, region, 2021, on) == expected, (kind, region, on)
                        assert compute(from_totals, region, 2021, on) == expected, (kind, region, on)

    check()


def test_a_person_moved_between_counties_leaves_one_and_joins_the_other(sqlite_ledger):
    """A correction of the village moves every figure of the person: the totals of the county they
    left lose them on every level, those of the county they joined gain them."""
    from projections.service import Reports
    from tests.conftest import CLERK, make_id

    reports = Reports(sqlite_ledger.store, sqlite_ledger.env)
    reports.follower.catch_up()
    number = make_id(date(1980, 5, 1))
    sqlite_ledger.register(CLERK, id_number=number, name="王芳", region="500114001001")
    sqlite_ledger.enroll(CLERK, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
    sqlite_ledger.pay(CLERK, id_number=number, year=2021, amount="280.00",
                      paid_at=datetime(2020, 11, 2, 10, tzinfo=CHINA), channel="wechat")
    on = date(2021, 6, 1)
    before = {r: reports.report("enrollment", r, 2021, on)["total"]["paid"] for r in ("500114", "500110", "5001")}
    assert before == {"500114": 1, "500110": 0, "5001": 1}
    sqlite_ledger.correct_registration(BUREAU, id_number=number, reason="wrong village", region="500110001001")
    after = {r: reports.report("enrollment", r, 2021, on)["total"]["paid"] for r in ("500114", "500110", "5001")}
    assert after == {"500114": 0, "500110": 1, "5001": 1}
    assert ViewSource(reports.views, None, sqlite_ledger.store).totals()
    reports.close()


def test_a_subsidy_whose_cover_began_stays_spent_after_a_departure(store_env, clock):
    """The funder paid for a person whose cover had begun before they died: the totals keep the
    subsidy in the funder's figures after the enrollment ends, as the rows and brute force do."""
    from domain.ledger import Ledger
    from projections.service import Reports
    from tests.conftest import CLERK, make_id

    ledger = Ledger(env=store_env, clock=clock)
    reports = Reports(ledger.store, ledger.env)
    reports.follower.catch_up()
    number = make_id(date(1950, 5, 1), area="500114")
    ledger.register(CLERK, id_number=number, name="王芳", region="500114001001")
    ledger.change_identity(BUREAU, id_number=number, category="youfu", action="certify", effective_on=date(2020, 1, 1))
    ledger.enroll(CLERK, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
    ledger.pay(CLERK, id_number=number, year=2021, amount="84.00", paid_at=datetime(2020, 11, 2, 10, tzinfo=CHINA),
               channel="wechat")
    ledger.record_departure(BUREAU, id_number=number, reason="death", left_on=date(2021, 3, 1), source="户籍注销")
    try:
        for on in (date(2021, 2, 1), date(2021, 6, 1)):
            answer = reports.report("subsidies", "500114", 2021, on)
            assert answer["total"]["persons"] == 1 and answer["total"]["amount"] == "196.00", on
            assert ViewSource(reports.views, None, ledger.store).totals()
            assert answer == _brute(ledger, "subsidies", "500114", on, None)
    finally:
        reports.close()
        ledger.close()


def test_a_follower_whose_batch_another_overtook_applies_nothing_twice(store_env, clock):
    """Two followers (two processes, or a report's catch-up beside `ledger serve`'s) read batches of
    different lengths from the same position; the shorter is applied first. The longer one, which
    took its new persons for new, must not add their rows and totals a second time."""
    from conftest import CLERK, make_id, stored_rows
    from domain.ledger import Ledger
    from projections.follower import Follower
    from projections.service import Reports

    ledger = Ledger(env=store_env, clock=clock)
    reports = Reports(ledger.store, ledger.env)
    try:
        reports.follower.catch_up()
        for n in range(4):
            number = make_id(date(1980, 5, 1 + n), area="500114")
            ledger.register(CLERK, id_number=number, name="王芳", region="500114001001")
            ledger.enroll(CLERK, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
            ledger.pay(CLERK, id_number=number, year=2021, amount="280.00",
                       paid_at=datetime(2020, 11, 2, 10, tzinfo=CHINA), channel="wechat")
        views = reports.views
        short, long = Follower(ledger.store, views, batch=3), Follower(ledger.store, views, batch=100)
        apply = views.apply

        def overtaken(*args, **kwargs):  # the short batch lands between the long one's read and write
            views.apply = apply
            assert short.step() == 3
            return apply(*args, **kwargs)

        views.apply = overtaken
        assert long.step() == 0  # refused: nothing of it written
        long.catch_up()
        answer = reports.report("enrollment", "500114", 2021, date(2021, 6, 1))
        assert answer["total"]["paid"] == 4 and answer["total"]["enrolled"] == 4
        assert ViewSource(views, None, ledger.store).totals()
        followed = stored_rows(views)
        reports.follower.rebuild()
        assert stored_rows(views) == followed
        assert reports.report("enrollment", "500114", 2021, date(2021, 6, 1)) == answer
    finally:
        reports.close()
        ledger.close()


def test_collections_above_a_county_are_per_child_region_and_channel_and_older_totals_are_made_again(
        store_env, clock):
    """A prefecture's collections report lists each county and channel, not each day and point;
    totals kept by an earlier shape of the tables (no channel totals) are not read but made again,
    and the answer is the same before and after."""
    from domain.ledger import Ledger
    from projections.reports import CHANNEL_COLUMNS, collections_report, report_columns
    from projections.service import Reports
    from tests.conftest import CLERK, make_id

    ledger = Ledger(env=store_env, clock=clock)
    reports = Reports(ledger.store, ledger.env)
    try:
        reports.follower.catch_up()
        for n, (village, channel, amount) in enumerate([("500114001001", "wechat", "280.00"),
                                                        ("500114002001", "cash", "280.00"),
                                                        ("500110001001", "wechat", "100.00")]):
            number = make_id(date(1980, 5, 1 + n), area=village[:6])
            ledger.register(CLERK, id_number=number, name="王芳", region=village)
            ledger.enroll(CLERK, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
            ledger.pay(CLERK, id_number=number, year=2021, amount=amount, channel=channel, receipt_no=f"R{n}",
                       paid_at=datetime(2020, 11, 2 + n, 10, tzinfo=CHINA))
        on = date(2021, 6, 1)
        answer = reports.report("collections", "5001", 2021, on)
        assert [(r["region"], r["channel"], r["payments"], r["amount"]) for r in answer["rows"]] == [
            ("500110", "wechat", 1, "100.00"), ("500114", "cash", 1, "280.00"), ("500114", "wechat", 1, "280.00")]
        assert answer["total"]["payments"] == 3 and answer["total"]["amount"] == "660.00"
        assert report_columns("collections", "5001") == CHANNEL_COLUMNS
        assert set(answer["rows"][0]) == set(CHANNEL_COLUMNS)
        county = reports.report("collections", "500114", 2021, on)
        assert {r["day"] for r in county["rows"]} == {"2020-11-02", "2020-11-03"}  # a county: by day and point
        assert ViewSource(reports.views, None, ledger.store).totals()

        views = reports.views
        with views.recorder.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {views.schema}channel_totals")
            c.execute(f"UPDATE {views.schema}totals_state SET policy_regions = 'an older shape'")
        assert not views.totals_ready()
        meanwhile = ViewSource(views, None, ledger.store)
        assert not meanwhile.totals()
        assert collections_report(meanwhile, "5001", 2021, on) == answer  # from the rows
        reports.follower.catch_up()
        assert views.totals_ready()
        upgraded = ViewSource(views, None, ledger.store)
        assert upgraded.totals()
        assert collections_report(upgraded, "5001", 2021, on) == answer
        assert answer == _brute(ledger, "collections", "5001", on, None)
    finally:
        reports.close()
        ledger.close()
