"""The notices' answers where an outside reading found the ledger wrong, each case through the HTTP
API on SQLite and PostgreSQL (the `api` fixture runs on both)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from conftest import event_count, make_id

ROOT = Path(__file__).resolve().parents[1]
CHUXIONG = "532301101001"


def h(api, role="admin"):
    return {"Authorization": f"Bearer {api.tokens[role]}"}


def register(api, region: str, born: date, area: str | None = None, **body) -> str:
    idn = make_id(born, area or region[:6])
    r = api.post("/v1/persons", json={"id_number": idn, "name": "杨敏", "region": region, **body}, headers=h(api))
    assert r.status_code == 201, r.text
    return idn


def enroll(api, idn: str, year: int, enrolled_on: str, **body) -> dict:
    r = api.post("/v1/enrollments", json={"id_number": idn, "year": year, "tier": 1, "enrolled_on": enrolled_on, **body},
                 headers=h(api))
    assert r.status_code in (200, 201), r.text
    return r.json()


def pay(api, idn: str, year: int, amount: str, paid_at: str, key: str, status: int = 201) -> dict:
    r = api.post("/v1/payments", json={"id_number": idn, "year": year, "amount": amount, "paid_at": paid_at,
                                       "channel": "wechat"}, headers={**h(api), "Idempotency-Key": key})
    assert r.status_code == status, r.text
    return r.json()


def coverage(api, idn: str, year: int, **params) -> dict:
    r = api.get(f"/v1/persons/{idn}/coverage", params={"year": year, **params}, headers=h(api))
    assert r.status_code == 200, r.text
    return r.json()


# -- Chuxiong newborns: the two 90-day sentences (SPEC Decision 9) --------------------------------


def test_chuxiong_newborn_named_by_both_sentences_is_undetermined(api):
    """「落户后90天内…办理参保登记…自出生之日起」 and 「出生后超过90天办理参保缴费的，自缴费次月起」 disagree for a
    baby registered within 90 days of 落户 but paid more than 90 days after birth."""
    cases = [  # born, 落户, registered, paid
        ("2021-01-01", "2021-05-01", "2021-06-01", "2021-06-01T10:00:00+08:00"),
        ("2021-03-01", "2021-03-10", "2021-04-01", "2021-08-01T10:00:00+08:00"),
    ]
    for i, (born, hukou, registered, paid) in enumerate(cases):
        baby = register(api, CHUXIONG, date.fromisoformat(born), hukou_registered_on=hukou)
        enroll(api, baby, 2021, registered, cohort="newborn")
        pay(api, baby, 2021, "280.00", paid, f"nb-{i}")
        answer = coverage(api, baby, 2021, on=born)
        assert answer["coverage_status"] == "undetermined" and answer["covered_on"] is None, answer
        assert "落户后90天内" in answer["undetermined_because"] and "出生后超过90天" in answer["undetermined_because"]
    agreed = register(api, CHUXIONG, date(2021, 3, 1), hukou_registered_on="2021-03-10")
    enroll(api, agreed, 2021, "2021-04-01", cohort="newborn")
    pay(api, agreed, 2021, "280.00", "2021-04-02T10:00:00+08:00", "nb-ok")  # day 32 after birth: both agree
    assert coverage(api, agreed, 2021)["benefit_start"] == "2021-03-01"


# -- Chuxiong 2025: the days between the window and the late band --------------------------------


def test_chuxiong_2025_late_february_is_undetermined_not_a_waiting_period(api):
    """The window closes on 25 February and the late band opens on 1 March: no source covers the
    26th to the 28th (SPEC Decision 8)."""
    for i, day in enumerate(("2025-02-26", "2025-02-28")):
        idn = register(api, CHUXIONG, date(1980, 6, 1))
        enroll(api, idn, 2025, day)
        view = pay(api, idn, 2025, "400.00", f"{day}T10:00:00+08:00", f"feb-{i}")["enrollment"]
        assert view["benefit_start"] is None and view["waiting_period"] is None
        answer = coverage(api, idn, 2025)
        assert answer["coverage_status"] == "undetermined" and "26 to 28 February" in answer["undetermined_because"]
    march = register(api, CHUXIONG, date(1980, 6, 1))
    enroll(api, march, 2025, "2025-03-01")
    assert pay(api, march, 2025, "400.00", "2025-03-01T10:00:00+08:00", "mar")["enrollment"]["benefit_start"] == \
        "2025-06-01"


# -- a policy file checked in every band: a loaded policy never ends in a 500 ---------------------


def test_a_waiting_period_band_without_continuity_rules_is_refused_at_load(api):
    text = (ROOT / "domain/policies/532301-2025.toml").read_text(encoding="utf-8")
    head, _, rest = text.partition("[continuity]")
    after = rest[rest.index("\n[critical_illness]"):]
    broken = (head + after).replace('id = "532301-2025"', 'id = "532301-2026"').replace("year = 2025", "year = 2026")
    before = event_count(api.ledger)
    r = api.post("/v1/policies", params={"notice_number": "x", "notice_date": "2025-08-01"},
                 content=broken.encode("utf-8"), headers=h(api))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "policy", r.text
    assert "waiting_period needs a [continuity] section" in r.json()["detail"]
    bad_cost = text.replace('full_cost = "1070.00"', 'full_cost = "1070.001"').replace(
        'id = "532301-2025"', 'id = "532301-2026"').replace("year = 2025", "year = 2026")
    r = api.post("/v1/policies", params={"notice_number": "x", "notice_date": "2025-08-01"},
                 content=bad_cost.encode("utf-8"), headers=h(api))
    assert r.status_code == 400 and "full_cost" in r.json()["detail"], r.text
    assert event_count(api.ledger) == before
