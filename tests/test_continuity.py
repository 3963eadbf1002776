"""The 2025 continuity rules (国办发〔2024〕38号): waiting periods from a person's whole history,
repairs (修复), exemptions, through the API and `ledger policy load`, on both backends."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Tokens
from domain.ledger import Ledger
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
    api.headers = {"Authorization": f"Bearer {tokens.create('admin', [], 'P-QD', 'qd-admin')[1]}"}
    return api


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
    finally:
        api.ledger.close()


def test_a_repair_the_rules_refuse_writes_nothing(store_env):
    cli(ledger_environ(store_env), "policy", "load", str(QINGDAO_2027), "--notice-number", "青医保发〔2026〕1号",
        "--notice-date", "2026-08-01")
    api = client(store_env)
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
