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


# -- 建档立卡 as a whole ----------------------------------------------------------------------------


def certify(api, idn: str, category: str, on: str) -> None:
    r = api.post(f"/v1/persons/{idn}/identities", json={"category": category, "action": "certify", "effective_on": on},
                 headers=h(api))
    assert r.status_code == 201, r.text


def test_a_household_out_of_poverty_gets_the_registers_rule_where_the_notice_takes_it_whole(api):
    """000, 001 and 004 subsidise 建档立卡贫困人口 as a whole; 003 alone tells 未脱贫户 (70%) from
    巩固脱贫户 (50%)."""
    cases = [  # village, year, enrolled_on, subsidy, payable
        ("500114001001", 2021, "2020-11-01", "196.00", "84.00"),  # 000: 196
        ("430623110201", 2021, "2020-11-01", "140.00", "140.00"),  # 001: 50% of 280
        (CHUXIONG, 2021, "2020-11-01", "180.00", "100.00"),  # 004: 180
        ("500110001001", 2021, "2020-11-01", "140.00", "140.00"),  # 003: 巩固脱贫户 50%
    ]
    for village, year, enrolled_on, subsidy, payable in cases:
        idn = register(api, village, date(1970, 3, 3))
        certify(api, idn, "巩固脱贫户", "2020-01-01")
        view = enroll(api, idn, year, enrolled_on)
        assert (view["subsidy"]["amount"], view["individual_payable"]) == (subsidy, payable), (village, view)
        if not village.startswith("500110"):
            assert view["subsidy"]["category"] == "poverty_registered"
            assert any("poverty_consolidated" in line and "is of the notice's group poverty_registered" in line
                       for line in view["explanation"]), view["explanation"]


# -- each notice's rate base and 100% groups ----------------------------------------------------


def test_futian_rate_is_of_the_task_number_not_the_household_population(api, tmp_path):
    """002: 「参保率达到应参保人数的95%以上」: a village that meets its task number (应参保人数) is not
    below target, though its paid persons are under 95% of its 户籍人口."""
    from api.services.target_import import parse_table
    from projections import targets

    table = ("region_code,region_name,户籍人口,2022年医保筹资任务数\n"
             "500237103201,水口村,10,6\n500237103202,凉水村,10,3\n").encode("utf-8")
    targets.load(api.ledger.store, parse_table(table, 2022, "futian.csv", "500237103", None, None), "test")
    for i, (village, n) in enumerate((("500237103201", 6), ("500237103202", 2))):
        for j in range(n):
            idn = register(api, village, date(1980, 1, 1), area="500237")
            enroll(api, idn, 2022, "2021-12-22")
            pay(api, idn, 2022, "320.00", "2021-12-23T10:00:00+08:00", f"ft-{i}-{j}")
    r = api.get("/v1/reports/enrollment", params={"region": "500237103", "year": 2022, "as_of": "2022-03-01"},
                headers=h(api, "auditor"))
    body = r.json()
    rows = {row["region"]: row for row in body["rows"]}
    assert rows["500237103201"]["paid"] == 6 and rows["500237103201"]["below_target"] is False
    assert rows["500237103202"]["below_target"] is True
    assert body["targets"]["rate_base"] == "target" and "应参保人数" in body["targets"]["rate_base_source"]


def test_only_the_notices_own_groups_are_assisted_and_on_the_unenrolled_list(api):
    """004: 「农村贫困人口参保实现100%全覆盖」. A newborn's family-planning compliance is a fact, and a
    三、四级残疾人 is in no group of 004: neither is 应保未保; a 巩固脱贫户 is (the register as a whole)."""
    baby = register(api, CHUXIONG, date(2021, 2, 1), hukou_registered_on="2021-02-10")
    certify(api, baby, "fp_compliant_birth", "2021-02-01")
    disabled = register(api, CHUXIONG, date(1960, 1, 1))
    certify(api, disabled, "disabled_3_4", "2020-01-01")
    poor = register(api, CHUXIONG, date(1960, 1, 1))
    certify(api, poor, "巩固脱贫户", "2020-01-01")
    params = {"region": "532301", "year": 2021, "as_of": "2021-12-31"}
    listed = api.get("/v1/reports/unenrolled-assisted", params=params, headers=h(api, "auditor")).json()
    assert [r["id_number"] for r in listed["rows"]] == [poor[:6] + "********" + poor[-4:]]
    report = api.get("/v1/reports/enrollment", params=params, headers=h(api, "auditor")).json()
    assert report["total"]["assisted"] == 1 and report["total"]["assisted_enrolled"] == 0
    assert report["targets"]["assisted_groups"] == ["poverty_registered", "poverty_consolidated"]


# -- the difference after a grant is each region's rule (SPEC Decision 4) -----------------------


def test_the_difference_after_a_grant_follows_each_regions_rule(api):
    # 000 「确保应助尽助」: certified after a first payment, the subsidy is granted and the excess refunded.
    qianjiang = register(api, "500114001001", date(1970, 5, 5))
    enroll(api, qianjiang, 2021, "2020-10-01")
    pay(api, qianjiang, 2021, "100.00", "2020-10-05T10:00:00+08:00", "b1-qj")
    certify(api, qianjiang, "低保对象", "2020-10-20")
    answer = coverage(api, qianjiang, 2021)
    assert (answer["subsidy"]["amount"], answer["outstanding"], answer["refund"], answer["status"]) == \
        ("280.00", "0.00", "100.00", "paid")
    assert not any("不再进行差额资助" in line for line in answer["explanation"])
    # 002 「享受资助参保后…不再进行差额资助」: a granted subsidy stays as it was.
    futian = register(api, "500237103201", date(1970, 5, 5), area="500237")
    certify(api, futian, "三、四级残疾人", "2021-01-01")  # 80.00
    enroll(api, futian, 2022, "2021-12-22")
    certify(api, futian, "低保对象", "2022-01-05")  # 288.00, after the grant
    answer = coverage(api, futian, 2022)
    assert (answer["subsidy"]["amount"], answer["individual_payable"]) == ("80.00", "240.00")
    assert any("no difference is paid" in line and "不再进行差额资助" in line for line in answer["explanation"])
    # 004 is silent: after full payment without a subsidy, the difference is undetermined, never 0.
    chuxiong = register(api, CHUXIONG, date(1970, 5, 5))
    enroll(api, chuxiong, 2021, "2020-10-01")
    pay(api, chuxiong, 2021, "280.00", "2020-10-05T10:00:00+08:00", "b1-cx")
    before = event_count(api.ledger)
    certify(api, chuxiong, "城乡低保对象", "2020-10-20")
    assert event_count(api.ledger) == before + 1  # the certification alone: no grant was decided
    answer = coverage(api, chuxiong, 2021)
    assert answer["subsidy"] is None and answer["refund"] == "0.00"
    assert any("the difference is undetermined" in line for line in answer["explanation"])


# -- a death after cover began (死亡): the subsidy stays spent, the person leaves 应保 ----------------


def test_a_death_keeps_the_subsidy_spent_and_takes_the_person_off_the_roll(api):
    """500110: a 低保 person whose 280.00 was granted and whose cover began dies on 2021-03-10. The
    280.00 was spent (the 医疗救助 budget paid it), and a dead person is not to be enrolled."""
    idn = register(api, "500110001001", date(1950, 2, 2))
    certify(api, idn, "低保对象", "2020-01-01")
    view = enroll(api, idn, 2021, "2020-11-05")
    assert view["subsidy"]["amount"] == "280.00" and view["status"] == "paid", view
    bureau = {"Authorization": f"Bearer {api.tokens['bureau']}"}
    before = event_count(api.ledger)
    for bad, field in (({"reason": "vanished", "left_on": "2021-03-10", "source": "x"}, "reason"),
                       ({"reason": "death", "left_on": "1949-01-01", "source": "死亡证明"}, "left_on"),
                       ({"reason": "death", "left_on": "2021-03-10", "source": " "}, "source")):
        r = api.post(f"/v1/persons/{idn}/departure", json=bad, headers=bureau)
        assert r.status_code in (400, 422) and field in r.text, r.text
    collector = {"Authorization": f"Bearer {api.tokens['collector']}"}
    r = api.post(f"/v1/persons/{idn}/departure", json={"reason": "death", "left_on": "2021-03-10",
                                                        "source": "户籍注销"}, headers=collector)
    assert r.status_code == 403
    assert event_count(api.ledger) == before  # nothing written by any refusal
    r = api.post(f"/v1/persons/{idn}/departure",
                 json={"reason": "death", "left_on": "2021-03-10", "source": "户籍注销 2021-03-12"}, headers=bureau)
    assert r.status_code == 201, r.text
    ended = r.json()["enrollments_ended"]
    assert [(e["year"], e["refund"]) for e in ended] == [(2021, "0.00")]
    written = event_count(api.ledger)
    retry = api.post(f"/v1/persons/{idn}/departure",
                     json={"reason": "death", "left_on": "2021-03-10", "source": "户籍注销 2021-03-12"}, headers=bureau)
    assert retry.status_code == 200 and retry.json() == r.json()
    assert event_count(api.ledger) == written  # a retry posts nothing twice
    again = api.post(f"/v1/persons/{idn}/departure",
                     json={"reason": "moved", "left_on": "2021-04-10", "source": "迁出"}, headers=bureau)
    assert again.status_code == 409 and "already" in again.text
    auditor = h(api, "auditor")
    for as_of in ("2021-03-01", "2021-12-31"):
        params = {"region": "500110", "year": 2021, "as_of": as_of}
        subsidies = api.get("/v1/reports/subsidies", params=params, headers=auditor).json()
        assert "total" in subsidies, subsidies
        assert (subsidies["total"]["persons"], subsidies["total"]["amount"]) == (1, "280.00"), (as_of, subsidies)
    params = {"region": "500110", "year": 2021, "as_of": "2021-12-31"}
    report = api.get("/v1/reports/enrollment", params=params, headers=auditor).json()
    assert report["total"]["assisted"] == 0, report["total"]
    listed = api.get("/v1/reports/unenrolled-assisted", params=params, headers=auditor).json()
    assert listed["rows"] == []
    # Before the death the person was assisted and enrolled.
    early = api.get("/v1/reports/enrollment", params={**params, "as_of": "2021-03-01"}, headers=auditor).json()
    assert (early["total"]["assisted"], early["total"]["assisted_enrolled"]) == (1, 1), early["total"]
    # One who died before enrolling is not enrolled, and is 应保 in no report.
    gone = register(api, "500110001001", date(1950, 3, 3))
    certify(api, gone, "低保对象", "2020-01-01")
    r = api.post(f"/v1/persons/{gone}/departure",
                 json={"reason": "death", "left_on": "2020-10-01", "source": "死亡证明"}, headers=bureau)
    assert r.status_code == 201 and r.json()["enrollments_ended"] == [], r.text
    before = event_count(api.ledger)
    r = api.post("/v1/enrollments", json={"id_number": gone, "year": 2021, "tier": 1, "enrolled_on": "2020-11-05"},
                 headers=h(api))
    assert r.status_code == 409 and "left the roll" in r.text, r.text
    assert event_count(api.ledger) == before
    assert api.get("/v1/reports/unenrolled-assisted", params=params, headers=auditor).json()["rows"] == []
