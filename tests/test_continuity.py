"""The 2025 continuity rules (国办发〔2024〕38号): waiting periods from a person's whole history,
repairs (修复), exemptions, through the API and `ledger policy load`, on both backends."""

from __future__ import annotations

import json
import subprocess
import time
import sys
import uuid
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Tokens
from domain.errors import LedgerError
from domain.ledger import Ledger
from tests.console_helpers import signed_in
from tests.conftest import Clock, event_count, ledger_environ, make_id

ROOT = Path(__file__).resolve().parents[1]
QINGDAO_2027 = ROOT / "tests/fixtures/policies/3702-2027.toml"
VILLAGE = "370202001001"  # 香港中路街道, 市南区


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=check, cwd=ROOT)


def client(store_env: dict[str, str]) -> TestClient:
    """The API over the store, opened now: after any `ledger policy load` the test ran."""
    ledger = Ledger(env=store_env, clock=Clock(datetime.now(timezone.utc)))
    tokens = Tokens(ledger)
    api = TestClient(create_app(ledger), raise_server_exceptions=False)
    api.ledger = ledger
    token = tokens.create('admin', [], 'P-QD', f'qd-admin-{uuid.uuid4().hex[:8]}')[1]
    api.headers = {"Authorization": f"Bearer {token}"}
    api.tokens = {"admin": token}
    return api


def qingdao(store_env: dict[str, str]) -> TestClient:
    """The API over a store into which `ledger policy load` (the command line) loaded Qingdao 2027."""
    cli(ledger_environ(store_env), "policy", "load", str(QINGDAO_2027), "--notice-number", "青医保发〔2026〕1号",
        "--notice-date", "2026-08-01")
    return client(store_env)


def resident(api: TestClient, insured_2024: bool = True) -> str:
    idn = make_id(date(1980, 5, 1), "370202")
    assert api.post("/v1/persons", json={"id_number": idn, "name": "王芳", "region": VILLAGE}).status_code == 201
    if insured_2024:
        r = api.post(f"/v1/persons/{idn}/prior-coverage", json={
            "scheme": "resident", "region": "370202", "from": "2024-01-01", "to": "2024-12-31",
            "source": "全民参保数据库 extract"})
        assert r.status_code == 201, r.text
    return idn


def rule_of(r) -> str:
    return r.json()["type"].rsplit("/", 1)[1]


def field_of(r) -> str:
    return r.json()["errors"][0]["field"]


def pay(api: TestClient, idn: str, year: int, amount: str, paid_at: str, key: str, **extra) -> dict:
    r = api.post("/v1/payments", json={"id_number": idn, "year": year, "amount": amount, "paid_at": paid_at,
                                       "channel": "wechat", **extra}, headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text
    return r.json()["enrollment"]


def test_qingdao_official_example_to_the_day(store_env):
    """青岛市医保局: 2025 and 2026 not insured, 2027 paid in the window: 3 + 1 = 4 months, benefits from
    1 May 2027; one missed year repaired: 3 months, from 1 April."""
    loaded = cli(ledger_environ(store_env), "policy", "load", str(QINGDAO_2027), "--notice-number", "青医保发〔2026〕1号",
                 "--notice-date", "2026-08-01")
    assert "policy 3702-2027 version 1 loaded" in loaded.stdout
    listed = cli(ledger_environ(store_env), "policy", "list").stdout
    assert "3702-2027" in listed and "青医保发〔2026〕1号" in listed
    api = client(store_env)
    try:
        idn = resident(api)
        assert api.post("/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1,
                                                 "enrolled_on": "2026-11-20"}).status_code == 201
        view = pay(api, idn, 2027, "400.00", "2026-11-20T10:00:00+08:00", "k1")
        assert view["benefit_start"] == "2027-05-01"
        assert view["waiting_period"] == {"fixed_months": 3, "variable_months": 1, "anchor": "year_start",
                                          "gap_years": 2, "repaired_years": 0}
        on = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2027, "on": "2027-04-30"}).json()
        assert on["covered_on"] is False and on["coverage_status"] == "not_covered"
        assert any("2025, 2026" in line and "gap years − 1" in line for line in on["explanation"])

        view = pay(api, idn, 2027, "400.00", "2026-11-21T09:00:00+08:00", "k2", repair_year=2025)
        assert view["benefit_start"] == "2027-04-01"
        assert view["waiting_period"] == {"fixed_months": 3, "variable_months": 0, "anchor": "year_start",
                                          "gap_years": 2, "repaired_years": 1}
        assert view["paid"] == "400.00"  # the repair is not part of 2027's contribution
        assert api.get(f"/v1/persons/{idn}/coverage", params={"year": 2027, "on": "2027-04-01"}).json()["covered_on"]
        browser = signed_in(api)
        page = browser.post("/console/persons/search", data={"id_number": idn, "csrf": browser.csrf})
        assert page.status_code == 200 and "待遇等待期" in page.text and "3 + 0 个月" in page.text
        assert "自1月1日起算" in page.text and "2027-04-01" in page.text
    finally:
        api.ledger.close()


def test_a_repair_the_rules_refuse_writes_nothing(store_env):
    api = qingdao(store_env)
    try:
        idn = resident(api)
        api.post("/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1, "enrolled_on": "2026-11-20"})
        pay(api, idn, 2027, "400.00", "2026-11-20T10:00:00+08:00", "k1")
        before = event_count(api.ledger)
        cases = [
            (2024, "400.00", "repair_year_range"),  # before the counting start (2025): insured then anyway
            (2027, "400.00", "repair_year_range"),  # not a year before the enrollment's
            (2025, "399.99", "repair_amount"),  # not the year's individual contribution
            (2025, "800.00", "repair_amount"),
        ]
        for year, amount, rule in cases:
            r = api.post("/v1/payments", json={"id_number": idn, "year": 2027, "amount": amount, "repair_year": year,
                                               "paid_at": "2026-11-21T09:00:00+08:00", "channel": "wechat"},
                         headers={"Idempotency-Key": f"bad-{year}-{amount}"})
            assert r.status_code == 422 and rule_of(r) == rule and field_of(r) in ("repair_year", "amount"), r.text
        assert event_count(api.ledger) == before
        pay(api, idn, 2027, "400.00", "2026-11-21T09:00:00+08:00", "ok", repair_year=2026)
        again = api.post("/v1/payments", json={"id_number": idn, "year": 2027, "amount": "400.00", "repair_year": 2026,
                                               "paid_at": "2026-11-22T09:00:00+08:00", "channel": "wechat"},
                         headers={"Idempotency-Key": "twice"})
        assert again.status_code == 409 and rule_of(again) == "repair_year_repaired"
    finally:
        api.ledger.close()


def test_a_policy_file_with_an_unknown_formula_or_anchor_is_refused_naming_it(store_env, tmp_path):
    env = ledger_environ(store_env)
    text = QINGDAO_2027.read_text(encoding="utf-8")
    for old, new, field in (('gap_formula = "gap_years_minus_one"', 'gap_formula = "gap_years_squared"', "gap_formula"),
                            ('anchor = "payment_month"', 'anchor = "full_moon"', "anchor")):
        bad = tmp_path / f"{field}.toml"
        bad.write_text(text.replace(old, new), encoding="utf-8")
        result = cli(env, "policy", "load", str(bad), "--notice-number", "x", "--notice-date", "2026-08-01", check=False)
        assert result.returncode == 2 and f"continuity.{field}" in result.stderr and "Traceback" not in result.stderr
    api = client(store_env)
    try:
        before = event_count(api.ledger)
        r = api.post("/v1/policies", params={"notice_number": "x", "notice_date": "2026-08-01"},
                     content=text.replace('anchor = "payment_month"', 'anchor = "full_moon"'))
        assert r.status_code == 400 and field_of(r) == "policy" and "continuity.anchor" in r.json()["detail"]
        assert event_count(api.ledger) == before
        collector = Tokens(api.ledger).create("collector", [], "P-1", "c1")[1]
        before = event_count(api.ledger)
        r = api.post("/v1/policies", params={"notice_number": "x", "notice_date": "2026-08-01"}, content=text,
                     headers={"Authorization": f"Bearer {collector}"})
        assert r.status_code == 403 and event_count(api.ledger) == before
    finally:
        api.ledger.close()


# -- every parameter's edges, through the ledger's commands --------------------------------------

from domain.ledger import Actor  # noqa: E402
from domain.policy_load import load_policy  # noqa: E402

ADMIN = Actor("admin-1", "admin")
CLERK = Actor("clerk-1", "bureau", "QD-1")


@pytest.fixture
def qd(sqlite_ledger, clock):
    clock.moment = datetime(2027, 12, 1, tzinfo=timezone.utc)
    return sqlite_ledger


def with_rules(ledger: Ledger, *replacements: tuple[str, str]) -> None:
    text = QINGDAO_2027.read_text(encoding="utf-8")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    load_policy(ledger, ADMIN, text, file_name="variant.toml", notice_number="test", notice_date=date(2026, 8, 1))


def person(ledger: Ledger, insured: list[int], born: date = date(1980, 5, 1), **kw) -> str:
    idn = make_id(born, "370202")
    ledger.register(CLERK, id_number=idn, name="李雷", region=VILLAGE)
    for year in insured:
        ledger.record_coverage_elsewhere(CLERK, id_number=idn, scheme="resident", region="370203",
                                         from_on=date(year, 1, 1), to_on=date(year, 12, 31), source="全民参保数据库")
    return idn


def start(ledger: Ledger, idn: str, paid: str, cohort: str = "resident", repairs: tuple[int, ...] = ()) -> tuple:
    ledger.enroll(CLERK, id_number=idn, year=2027, tier=1, cohort=cohort, enrolled_on=date.fromisoformat(paid[:10]))
    ledger.pay(CLERK, id_number=idn, year=2027, amount="400.00", paid_at=datetime.fromisoformat(paid), channel="pos")
    for y in repairs:
        ledger.pay(CLERK, id_number=idn, year=2027, amount="400.00", paid_at=datetime.fromisoformat(paid),
                   channel="pos", repair_year=y)
    view = ledger.coverage(idn, 2027)
    w = view.waiting
    return view.benefit_start, (w.fixed_months, w.variable_months, w.anchor, w.gap_years, w.repaired_years) if w else None


@pytest.mark.parametrize("anchor, paid, expected", [
    ("payment_month", "2027-01-15T10:00:00+08:00", date(2027, 4, 1)),  # January counts: Jan–Mar wait
    ("next_month", "2027-01-15T10:00:00+08:00", date(2027, 5, 1)),  # Feb–Apr wait
    ("same_day", "2027-01-15T10:00:00+08:00", date(2027, 4, 16)),  # ends 15 April (Civil Code art. 202)
    ("same_day", "2027-11-30T10:00:00+08:00", None),  # would end 29 Feb 2028: after the year, no coverage
])
def test_each_anchor_for_a_payment_after_the_window(qd, anchor, paid, expected):
    with_rules(qd, ('anchor = "payment_month"', f'anchor = "{anchor}"'))
    idn = person(qd, insured=[2025, 2026])  # continuously insured: only the fixed months
    got, waiting = start(qd, idn, paid)
    assert got == expected
    assert waiting == (3, 0, anchor, 0, 0)


def test_same_day_anchor_at_a_month_without_the_day(qd):
    with_rules(qd, ('anchor = "payment_month"', 'anchor = "same_day"'))
    idn = person(qd, insured=[2025, 2026])
    assert start(qd, idn, "2027-05-31T10:00:00+08:00")[0] == date(2027, 9, 1)  # ends 31 Aug; 3 months on 30 Nov: below
    idn = person(qd, insured=[2025, 2026])
    assert start(qd, idn, "2027-06-30T10:00:00+08:00")[0] == date(2027, 10, 1)


def test_a_window_payer_without_gaps_waits_nothing(qd):
    with_rules(qd)
    idn = person(qd, insured=[2025, 2026])
    assert start(qd, idn, "2026-12-20T10:00:00+08:00") == (date(2027, 1, 1), None)


@pytest.mark.parametrize("formula, gaps, months", [
    ("gap_years_minus_one", 1, 3), ("gap_years_minus_one", 2, 4), ("gap_years_minus_one", 3, 5),
    ("gap_years", 1, 4), ("gap_years", 2, 5), ("gap_years", 3, 6),
])
def test_each_gap_formula(qd, formula, gaps, months):
    with_rules(qd, ('gap_formula = "gap_years_minus_one"', f'gap_formula = "{formula}"'),
               ("counts_from = 2025", "counts_from = 2024"))
    insured = [y for y in (2024, 2025, 2026)][: 3 - gaps]
    idn = person(qd, insured=insured)
    got, waiting = start(qd, idn, "2026-12-20T10:00:00+08:00")
    assert waiting[3] == gaps and waiting[0] + waiting[1] == months
    assert got == date(2027, 1 + months, 1)


@pytest.mark.parametrize("formula, repairs, expected_total", [
    ("gap_years_minus_one", (), 6), ("gap_years_minus_one", (2023,), 6), ("gap_years_minus_one", (2023, 2024, 2025), 6),
    ("gap_years", (), 7), ("gap_years", (2023,), 6), ("gap_years", (2023, 2024, 2025, 2026), 6),
])
def test_four_gap_years_never_under_six_months(qd, formula, repairs, expected_total):
    """连续断保4年及以上的，修复后固定待遇等待期和变动待遇等待期之和原则上不少于6个月."""
    with_rules(qd, ('gap_formula = "gap_years_minus_one"', f'gap_formula = "{formula}"'),
               ("counts_from = 2025", "counts_from = 2023"))
    idn = person(qd, insured=[2022])
    got, waiting = start(qd, idn, "2026-12-20T10:00:00+08:00", repairs=repairs)
    assert waiting[3] == 4 and waiting[4] == len(repairs)
    assert waiting[0] + waiting[1] == expected_total
    assert got == date(2027, 1 + expected_total, 1)


def test_three_gap_years_repaired_go_below_six(qd):
    """The floor applies from four gap years: three, two repaired, leave the fixed 3 months; a
    third repair would shorten nothing and is refused."""
    with_rules(qd, ("counts_from = 2025", "counts_from = 2024"))
    idn = person(qd, insured=[2023])
    got, waiting = start(qd, idn, "2026-12-20T10:00:00+08:00", repairs=(2024, 2025))
    assert waiting == (3, 0, "year_start", 3, 2) and got == date(2027, 4, 1)
    with pytest.raises(LedgerError) as refused:
        qd.pay(CLERK, id_number=idn, year=2027, amount="400.00", channel="pos", repair_year=2026,
               paid_at=datetime.fromisoformat("2026-12-21T10:00:00+08:00"))
    assert (refused.value.field, refused.value.rule) == ("repair_year", "repair_no_effect")


def test_exempt_cohorts_and_categories(qd):
    with_rules(qd, ('exempt_cohorts = ["newborn"]', 'exempt_cohorts = ["newborn", "veteran"]'),
               ('exempt_after_employee_months = 3', 'exempt_after_employee_months = 3\nexempt_categories = ["dibao"]'),
               ('exempt_start = "unspecified"', 'exempt_start = "next_month"'))
    veteran = person(qd, insured=[])
    assert start(qd, veteran, "2026-12-20T10:00:00+08:00", cohort="veteran") == (date(2027, 1, 1), None)
    late_veteran = person(qd, insured=[])
    assert start(qd, late_veteran, "2027-03-10T10:00:00+08:00", cohort="veteran") == (date(2027, 4, 1), None)
    dibao = person(qd, insured=[])
    qd.change_identity(CLERK, id_number=dibao, category="dibao", action="certify", effective_on=date(2026, 6, 1))
    view_start, waiting = start(qd, dibao, "2026-12-20T10:00:00+08:00")
    assert (view_start, waiting) == (date(2027, 1, 1), None)
    assert any("dibao" in line and "exempt" in line for line in qd.coverage(dibao, 2027).explanation)
    plain = person(qd, insured=[])
    assert start(qd, plain, "2026-12-20T10:00:00+08:00")[1] == (3, 1, "year_start", 2, 0)


def test_a_newborn_born_in_a_gap_year_has_no_gap_for_it(qd):
    with_rules(qd)
    baby = person(qd, insured=[], born=date(2026, 3, 1))
    assert start(qd, baby, "2026-12-20T10:00:00+08:00") == (date(2027, 1, 1), None)


@pytest.mark.parametrize("ended, exempt", [(date(2027, 1, 10), True), (date(2026, 12, 21), True),
                                           (date(2026, 12, 19), False)])
def test_moving_from_the_employee_scheme_within_three_months(qd, ended, exempt):
    """Paid on 20 March after the window: 职工医保 ended 19 December is three months that ended on
    19 March (Civil Code art. 202), so not within them; 21 December is."""
    with_rules(qd, ('exempt_start = "unspecified"', 'exempt_start = "payment_month"'))
    idn = person(qd, insured=[2025])
    qd.record_coverage_elsewhere(CLERK, id_number=idn, scheme="employee", region="370202", from_on=date(2026, 1, 1),
                                 to_on=ended, source="职工医保")
    got, waiting = start(qd, idn, "2027-03-20T10:00:00+08:00")
    if exempt:
        assert (got, waiting) == (date(2027, 3, 1), None)  # exempt: from the payment month
    else:
        assert waiting == (3, 0, "payment_month", 0, 0) and got == date(2027, 6, 1)


def test_an_exempt_late_payer_without_a_stated_start_is_undetermined(qd):
    with_rules(qd)  # Qingdao states no start for the exempt (从中断缴费之月起, conditions unknown)
    idn = person(qd, insured=[2025])
    qd.record_coverage_elsewhere(CLERK, id_number=idn, scheme="employee", region="370202", from_on=date(2026, 1, 1),
                                 to_on=date(2027, 1, 31), source="职工医保")
    start(qd, idn, "2027-03-20T10:00:00+08:00")
    view = qd.coverage(idn, 2027, on=date(2027, 6, 1))
    assert view.coverage_status(date(2027, 6, 1)) == "undetermined" and "exempt" in view.undetermined


def test_an_unstated_gap_formula_leaves_the_start_undetermined(qd):
    with_rules(qd, ('gap_formula = "gap_years_minus_one"\n', ''))
    idn = person(qd, insured=[])
    start(qd, idn, "2026-12-20T10:00:00+08:00")
    view = qd.coverage(idn, 2027)
    assert view.coverage_status() == "undetermined" and "how gap years add months is not stated" in view.undetermined
    continuous = person(qd, insured=[2025, 2026])
    assert start(qd, continuous, "2026-12-20T10:00:00+08:00")[0] == date(2027, 1, 1)


# -- 大病保险 incentives ----------------------------------------------------------------------------

INCENTIVES = ('[critical_illness]\n', '[critical_illness]\nbase_limit = "20000.00"\ncounts_from = 2021\n'
              'continuous_step = "1000.00"\nzero_claim_step = "1500.00"\n')


def test_incentive_grows_after_four_years_reaches_its_cap_and_resets_after_a_gap(qd):
    with_rules(qd, INCENTIVES)
    four = person(qd, insured=[2023, 2024, 2025, 2026])  # 2027 is the fifth: one step
    start(qd, four, "2026-12-20T10:00:00+08:00")
    limit = qd.coverage(four, 2027).critical_illness
    assert (limit.continuous_years, limit.increase_fen, limit.limit_fen) == (5, 100000, 2100000)
    seven = person(qd, insured=[2021, 2022, 2023, 2024, 2025, 2026])  # 7 years: 3 steps
    start(qd, seven, "2026-12-20T10:00:00+08:00")
    assert qd.coverage(seven, 2027).critical_illness.increase_fen == 300000
    for y in (2023, 2024):  # and two years without claims: 3000 + 3000 = 6000, capped at 20% of 20000
        qd.record_claims_year(CLERK, id_number=seven, year=y, reimbursed=False, reward_used=False, source="claims")
    capped = qd.coverage(seven, 2027)
    assert (capped.critical_illness.zero_claim_years, capped.critical_illness.increase_fen) == (2, 400000)
    assert any("capped at 4000.00" in line for line in capped.explanation)
    gap = person(qd, insured=[2021, 2022, 2023, 2025, 2026])  # 2024 missed: counting starts again in 2025
    start(qd, gap, "2026-12-20T10:00:00+08:00")
    limit = qd.coverage(gap, 2027).critical_illness
    assert (limit.continuous_years, limit.increase_fen) == (3, 0)


def test_the_zero_claim_reward_is_cleared_once_used(qd):
    with_rules(qd, INCENTIVES)
    idn = person(qd, insured=[2024, 2025, 2026])
    start(qd, idn, "2026-12-20T10:00:00+08:00")
    qd.record_claims_year(CLERK, id_number=idn, year=2024, reimbursed=False, reward_used=False, source="claims")
    assert qd.coverage(idn, 2027).critical_illness.increase_fen == 150000
    qd.record_claims_year(CLERK, id_number=idn, year=2025, reimbursed=True, reward_used=True, source="claims")
    assert qd.coverage(idn, 2027).critical_illness.increase_fen == 0
    qd.record_claims_year(CLERK, id_number=idn, year=2026, reimbursed=False, reward_used=False, source="claims")
    limit = qd.coverage(idn, 2027)
    assert (limit.critical_illness.zero_claim_years, limit.critical_illness.limit_fen) == (1, 2150000)
    with pytest.raises(LedgerError) as refused:
        qd.record_claims_year(CLERK, id_number=idn, year=2026, reimbursed=False, reward_used=True, source="claims")
    assert refused.value.field == "reward_used"


def test_an_unstated_incentive_is_undetermined_never_zero(qd):
    with_rules(qd)  # Qingdao states neither its base limit nor its steps
    idn = person(qd, insured=[2025, 2026])
    start(qd, idn, "2026-12-20T10:00:00+08:00")
    answer = qd.coverage(idn, 2027).to_api()["critical_illness"]
    assert answer["limit"] is None and "not stated" in answer["undetermined_because"]


def test_claims_years_through_the_api(store_env):
    api = qingdao(store_env)
    try:
        idn = resident(api)
        r = api.post(f"/v1/persons/{idn}/claims-years", json={"year": 2024, "reimbursed": False, "source": "claims"})
        assert r.status_code == 201 and r.json()["claims"] == [
            {"year": 2024, "reimbursed": False, "reward_used": False, "source": "claims"}]
        assert api.post(f"/v1/persons/{idn}/claims-years",
                        json={"year": 2024, "reimbursed": False, "source": "claims"}).status_code == 200
        before = event_count(api.ledger)
        for body, field in (({"year": 2099, "reimbursed": False, "source": "x"}, "year"),
                            ({"year": 2024, "reimbursed": False, "reward_used": True, "source": "x"}, "reward_used"),
                            ({"year": 2024, "reimbursed": "no", "source": "x"}, "reimbursed")):
            bad = api.post(f"/v1/persons/{idn}/claims-years", json=body)
            assert bad.status_code == 400 and field_of(bad) == field, bad.text
        assert event_count(api.ledger) == before
    finally:
        api.ledger.close()


# -- prior coverage from the national database's extract --------------------------------------------


def test_prior_coverage_file_gives_each_row_an_outcome_and_writes_nothing_for_bad_rows(store_env, tmp_path):
    env = ledger_environ(store_env)
    api = qingdao(store_env)
    try:
        known = resident(api, insured_2024=False)
        elsewhere = make_id(date(1975, 3, 3), "500110")
        assert api.post("/v1/persons", json={"id_number": elsewhere, "name": "赵六",
                                             "region": "500110001001"}).status_code == 201
        before = event_count(api.ledger)
    finally:
        api.ledger.close()
    stranger = make_id(date(1990, 1, 1), "370202")
    rows = [
        "证件号码,险种,参保地,开始日期,结束日期,来源",
        f"{known},居民医保,370202,2024-01-01,2024-12-31,全民参保数据库",  # recorded
        f"{known},居民医保,370202,2024-01-01,2024-12-31,全民参保数据库",  # the same again
        f"{known},职工医保,370202,2099-01-01,,全民参保数据库",  # in the future
        f"{known},商业保险,370202,2023-01-01,2023-12-31,全民参保数据库",  # no such scheme
        f"{known},职工医保,37x202,2023-01-01,2023-12-31,全民参保数据库",  # not a division code
        f"{stranger},居民医保,370202,2023-01-01,2023-12-31,全民参保数据库",  # not registered
        f"{elsewhere},职工医保,500110,2023-01-01,2023-12-31,全民参保数据库",  # outside --regions
    ]
    path = tmp_path / "extract.csv"
    path.write_text("\n".join(rows) + "\n", encoding="gb18030")
    result = cli(env, "import", "prior-coverage", str(path), "--json", "--regions", "3702", check=False)
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["outcome"] for o in outcomes] == ["recorded", "already_recorded", "malformed", "malformed", "malformed",
                                                "unknown_person", "out_of_scope"]
    assert [o["line"] for o in outcomes] == list(range(2, 9))
    assert "today" in outcomes[2]["message"] and "scheme" in outcomes[3]["message"]
    assert stranger not in result.stdout and elsewhere not in result.stdout  # masked in the report
    assert result.returncode == 1
    ledger = Ledger(env=store_env)
    try:
        assert event_count(ledger) == before + 1  # one row recorded, nothing else written
        assert type(ledger.events_of(known)[1][-1]).__name__ == "CoverageElsewhereRecorded"
    finally:
        ledger.close()


def test_a_second_version_changes_answers_from_its_load_on_and_not_before(store_env):
    """Loaded through the admin API: version 1, a payment, version 2 (2 fixed months instead of 3).
    Known before version 2, the coverage answer and the report are version 1's; known now, 2's."""
    api = client(store_env)
    try:
        text = QINGDAO_2027.read_text(encoding="utf-8")
        first = api.post("/v1/policies", params={"notice_number": "青医保发〔2026〕1号", "notice_date": "2026-08-01",
                                                 "file_name": "3702-2027.toml"}, content=text.encode())
        assert first.status_code == 201 and first.json()["version"] == 1, first.text
        idn = resident(api)
        api.post("/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1, "enrolled_on": "2026-11-20"})
        pay(api, idn, 2027, "400.00", "2026-11-20T10:00:00+08:00", "v1")
        api.ledger.clock.advance(seconds=1)
        between = api.ledger.clock().isoformat()
        api.ledger.clock.advance(seconds=1)
        second = api.post("/v1/policies", params={"notice_number": "青医保发〔2026〕9号", "notice_date": "2026-10-01"},
                          content=text.replace("fixed_months = 3", "fixed_months = 2").encode())
        assert second.status_code == 201 and second.json()["version"] == 2
        same_again = api.post("/v1/policies", params={"notice_number": "x", "notice_date": "2026-10-01"},
                              content=text.replace("fixed_months = 3", "fixed_months = 2").encode())
        assert same_again.status_code == 409 and rule_of(same_again) == "policy_unchanged"

        now = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2027}).json()
        then = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2027, "known_at": between}).json()
        assert (then["benefit_start"], now["benefit_start"]) == ("2027-05-01", "2027-04-01")
        assert (then["waiting_period"]["fixed_months"], now["waiting_period"]["fixed_months"]) == (3, 2)

        def covered(known_at: str | None) -> int:
            params = {"region": "370202", "year": 2027, "as_of": "2027-04-15", **({"known_at": known_at} if known_at else {})}
            r = api.get("/v1/reports/enrollment", params=params)
            assert r.status_code == 200, r.text
            return r.json()["total"]["covered"]

        assert (covered(between), covered(None)) == (0, 1)
        listed = api.get("/v1/policies").json()
        row = next(p for p in listed["policies"] if p["policy"] == "3702-2027")
        assert (row["version"], row["source"]) == (2, "loaded")
        assert [(v["version"], v["notice_number"]) for v in listed["loaded"]] == [(1, "青医保发〔2026〕1号"),
                                                                                  (2, "青医保发〔2026〕9号")]
    finally:
        api.ledger.close()


def test_a_newborn_is_exempt_only_within_the_newborn_days(qd):
    with_rules(qd, ('[newborn]\n# [3P] 「6 months from birth」: a period in months the newborn rule (in days) does not'
                    ' express; undetermined.\nrule = "unspecified"', '[newborn]\nrule = "from_birth"\nwithin_days = 90'))
    baby = person(qd, insured=[], born=date(2027, 1, 10))
    assert start(qd, baby, "2027-03-01T10:00:00+08:00", cohort="newborn") == (date(2027, 1, 10), None)
    late = person(qd, insured=[], born=date(2027, 1, 10))
    got, waiting = start(qd, late, "2027-05-01T10:00:00+08:00", cohort="newborn")  # day 111: not a newborn's case
    assert waiting == (3, 0, "payment_month", 0, 0) and got == date(2027, 8, 1)


# -- Chuxiong 2025 under Yunnan's rules (shipped, secondary sources) ---------------------------------


@pytest.fixture
def cx(sqlite_ledger, clock):
    clock.moment = datetime(2025, 12, 1, tzinfo=timezone.utc)
    return sqlite_ledger


def chuxiong_person(ledger: Ledger) -> str:
    idn = make_id(date(1970, 2, 2), "532301")
    ledger.register(CLERK, id_number=idn, name="杨华", region="532301101001")
    ledger.enroll(CLERK, id_number=idn, year=2025, tier=1, enrolled_on=date(2025, 3, 1))
    return idn


def test_chuxiong_2025_late_payment_waits_three_months_from_the_payment_month(cx):
    idn = chuxiong_person(cx)
    cx.pay(CLERK, id_number=idn, year=2025, amount="400.00", channel="pos",
           paid_at=datetime.fromisoformat("2025-03-10T10:00:00+08:00"))
    view = cx.coverage(idn, 2025)
    assert view.benefit_start == date(2025, 6, 1) and view.waiting.anchor == "payment_month"


def test_chuxiong_2025_after_june_the_whole_cost_without_subsidy(cx):
    idn = chuxiong_person(cx)
    part = cx.pay(CLERK, id_number=idn, year=2025, amount="400.00", channel="pos",
                  paid_at=datetime.fromisoformat("2025-07-10T10:00:00+08:00"))
    assert part.view.status == "partially_paid" and part.view.outstanding_fen == 67000  # 1070.00 owed
    cx.pay(CLERK, id_number=idn, year=2025, amount="670.00", channel="pos",
           paid_at=datetime.fromisoformat("2025-07-11T10:00:00+08:00"))
    view = cx.coverage(idn, 2025)
    assert (view.status, view.payable_fen, view.subsidy) == ("paid", 107000, None)
    assert view.benefit_start == date(2025, 10, 1)
    assert any("whole cost" in line and "1070.00" in line for line in view.explanation)
    with pytest.raises(LedgerError) as refused:
        cx.pay(CLERK, id_number=idn, year=2025, amount="1.00", channel="pos",
               paid_at=datetime.fromisoformat("2025-07-12T10:00:00+08:00"))
    assert refused.value.rule == "over_payment"


def test_chuxiong_2025_leaves_undetermined_what_no_source_states(cx):
    late_june = chuxiong_person(cx)
    cx.pay(CLERK, id_number=late_june, year=2025, amount="400.00", channel="pos",
           paid_at=datetime.fromisoformat("2025-06-28T10:00:00+08:00"))
    assert cx.coverage(late_june, 2025).coverage_status() == "undetermined"
    assisted = make_id(date(1960, 5, 5), "532301")
    cx.register(CLERK, id_number=assisted, name="李梅", region="532301101001")
    cx.change_identity(CLERK, id_number=assisted, category="dibao", action="certify", effective_on=date(2024, 1, 1))
    cx.enroll(CLERK, id_number=assisted, year=2025, tier=1, enrolled_on=date(2025, 3, 1))
    answer = cx.coverage(assisted, 2025).to_api()
    assert answer["coverage_status"] == "undetermined" and answer["individual_payable"] == "400.00"  # at most
    assert "no source found states policy 532301-2025's subsidies" in answer["undetermined_because"]


def test_a_running_serve_takes_a_version_loaded_from_the_command_line(tmp_path):
    """An operator loads a policy with `ledger policy load` while `ledger serve` runs: the served API
    enrolls under it within the follower's interval, without a restart."""
    import httpx

    from tests.served import ledger as run, ledger_env as served_env, serving, token

    env = served_env(tmp_path)
    admin = token(tmp_path, env, "admin", "ops")
    headers = {"Authorization": f"Bearer {admin}"}
    with serving(tmp_path, env, "--without-log") as base:
        idn = make_id(date(1980, 5, 1), "370202")
        assert httpx.post(f"{base}/v1/persons", json={"id_number": idn, "name": "王芳", "region": VILLAGE},
                          headers=headers).status_code == 201
        before = httpx.post(f"{base}/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1},
                            headers=headers)
        assert before.status_code == 422 and "no policy is in force for coverage year 2027" in before.json()["detail"]
        loaded = run(tmp_path, env, "policy", "load", str(QINGDAO_2027), "--notice-number", "青医保发〔2026〕1号",
                     "--notice-date", "2026-08-01")
        assert loaded.returncode == 0, loaded.stderr
        for _ in range(50):
            listed = httpx.get(f"{base}/v1/policies", headers=headers).json()
            if any(p["policy"] == "3702-2027" for p in listed["policies"]):
                break
            time.sleep(0.1)
        after = httpx.post(f"{base}/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1},
                           headers=headers)
        assert after.status_code == 201 and after.json()["policy"] == "3702-2027", after.text


# -- only the break that ends with the enrollment counts (连续断保) ---------------------------------


def load_through_api(api: TestClient, text: str, notice: str) -> None:
    r = api.post("/v1/policies", params={"notice_number": notice, "notice_date": "2026-08-01"},
                 content=text.encode("utf-8"))
    assert r.status_code == 201, r.text


def qingdao_year(year: int, *replacements: tuple[str, str]) -> str:
    """The 2027 fixture carried to another year (its window the autumn before), with variations."""
    text = QINGDAO_2027.read_text(encoding="utf-8")
    text = text.replace("2027", str(year)).replace("2026-", f"{year - 1}-")
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    return text


def test_a_break_that_is_over_adds_no_waiting_in_later_years(store_env):
    """Missed 2025, enrolled 2026 (3 months' wait), enrolled again for 2027 in the window: insured
    since the break ended, so nothing to wait (未连续参保 is the break that ends with this enrollment)."""
    api = client(store_env)
    try:
        load_through_api(api, qingdao_year(2026), "青医保发〔2025〕1号")
        load_through_api(api, qingdao_year(2027), "青医保发〔2026〕1号")
        idn = resident(api)  # insured 2024, not 2025
        assert api.post("/v1/enrollments", json={"id_number": idn, "year": 2026, "tier": 1,
                                                 "enrolled_on": "2025-11-10"}).status_code == 201
        first = pay(api, idn, 2026, "400.00", "2025-11-10T10:00:00+08:00", "b1")
        assert first["benefit_start"] == "2026-04-01" and first["waiting_period"]["gap_years"] == 1
        assert api.post("/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1,
                                                 "enrolled_on": "2026-12-04"}).status_code == 201
        second = pay(api, idn, 2027, "400.00", "2026-12-04T10:00:00+08:00", "b2")
        assert second["benefit_start"] == "2027-01-01" and second["waiting_period"] is None
        assert not any("not insured in 2025" in line for line in second["explanation"])
    finally:
        api.ledger.close()


def test_the_six_month_floor_needs_four_consecutive_gap_years(store_env):
    """连续断保4年及以上: gaps in 2020, 2022, 2024 and 2026, each followed by a year insured, are no
    break of four years; only 2026 counts, and one gap year gives the fixed 3 months alone."""
    api = client(store_env)
    try:
        load_through_api(api, qingdao_year(2027, ("counts_from = 2025", "counts_from = 2020")), "test")
        idn = resident(api, insured_2024=False)
        for year in (2021, 2023, 2025):
            r = api.post(f"/v1/persons/{idn}/prior-coverage", json={
                "scheme": "resident", "region": "370202", "from": f"{year}-01-01", "to": f"{year}-12-31",
                "source": "全民参保数据库 extract"})
            assert r.status_code == 201, r.text
        api.post("/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1, "enrolled_on": "2026-11-20"})
        view = pay(api, idn, 2027, "400.00", "2026-11-20T10:00:00+08:00", "f1")
        assert view["waiting_period"] == {"fixed_months": 3, "variable_months": 0, "anchor": "year_start",
                                          "gap_years": 1, "repaired_years": 0}
        assert view["benefit_start"] == "2027-04-01"
        # A gap year of an earlier break cannot be repaired: it is over.
        r = api.post("/v1/payments", json={"id_number": idn, "year": 2027, "amount": "400.00", "repair_year": 2024,
                                           "paid_at": "2026-11-21T09:00:00+08:00", "channel": "wechat"},
                     headers={"Idempotency-Key": "old-break"})
        assert r.status_code == 422 and rule_of(r) == "repair_year_missed", r.text
    finally:
        api.ledger.close()


def test_the_critical_illness_limit_after_a_break_is_the_policys_to_state(store_env):
    """「对断保人员再参保的，可降低大病保险最高支付限额」: unstated, a person ending a break has an
    undetermined limit; a policy that names the lower limit gives it; a person insured without a
    break keeps the base."""
    api = client(store_env)
    try:
        incentives = ('[critical_illness]\n', '[critical_illness]\nbase_limit = "20000.00"\ncounts_from = 2021\n'
                      'continuous_step = "1000.00"\nzero_claim_step = "1500.00"\n')
        load_through_api(api, qingdao_year(2027, incentives), "v1")
        returning = resident(api)  # 2025 and 2026 missed
        continuous = resident(api)
        for start_on, end_on in (("2025-01-01", "2025-12-31"), ("2026-01-01", "2026-11-30")):
            r = api.post(f"/v1/persons/{continuous}/prior-coverage", json={
                "scheme": "resident", "region": "370202", "from": start_on, "to": end_on,
                "source": "全民参保数据库 extract"})
            assert r.status_code == 201, r.text
        for i, idn in enumerate((returning, continuous)):
            api.post("/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1, "enrolled_on": "2026-11-20"})
            pay(api, idn, 2027, "400.00", "2026-11-20T10:00:00+08:00", f"ci{i}")
        answer = api.get(f"/v1/persons/{returning}/coverage", params={"year": 2027}).json()["critical_illness"]
        assert answer["limit"] is None and "可降低大病保险最高支付限额" in answer["undetermined_because"]
        assert api.get(f"/v1/persons/{continuous}/coverage",
                       params={"year": 2027}).json()["critical_illness"]["limit"] == "20000.00"
        lowered = (incentives[0], incentives[1] + 'after_break_limit = "15000.00"\n'
                   'after_break_source = "test: 断保后再参保的，大病保险最高支付限额为1.5万元"\n')
        load_through_api(api, qingdao_year(2027, lowered), "v2")
        answer = api.get(f"/v1/persons/{returning}/coverage", params={"year": 2027}).json()
        assert answer["critical_illness"]["limit"] == "15000.00"
        assert any("re-enrolled after a break" in line and "15000.00" in line for line in answer["explanation"])
        assert api.get(f"/v1/persons/{continuous}/coverage",
                       params={"year": 2027}).json()["critical_illness"]["limit"] == "20000.00"
    finally:
        api.ledger.close()


def test_a_new_year_is_refused_until_its_notice_is_loaded(store_env):
    """The year rollover: before the bureau loads the new year's notice, an enrollment for it is
    refused naming what is missing and the latest notice loaded, and nothing is written; loaded
    through the admin API, the same enrollment is taken."""
    from conftest import event_count

    api = client(store_env)
    try:
        idn = resident(api)
        before = event_count(api.ledger)
        r = api.post("/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1, "enrolled_on": "2026-11-20"})
        assert r.status_code == 422 and rule_of(r) == "policy_exists", r.text
        detail = r.json()["detail"]
        assert "year" in detail and "2027 collection notice" in detail and "2025's" in detail and "policy load" in detail
        assert event_count(api.ledger) == before
        loaded = api.post("/v1/policies", params={"notice_number": "青医保发〔2026〕1号", "notice_date": "2026-08-01",
                                                  "file_name": "3702-2027.toml"}, content=QINGDAO_2027.read_bytes())
        assert loaded.status_code == 201, loaded.text
        r = api.post("/v1/enrollments", json={"id_number": idn, "year": 2027, "tier": 1, "enrolled_on": "2026-11-20"})
        assert r.status_code == 201 and r.json()["policy"] == "3702-2027", r.text
    finally:
        api.ledger.close()
