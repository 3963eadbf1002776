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
    # Ended, the year never reads "covered": its benefit period says until when it was.
    answer = coverage(api, idn, 2021)
    assert (answer["status"], answer["coverage_status"], answer["benefit_end"]) == ("cancelled", "not_covered",
                                                                                  "2021-03-10")
    assert coverage(api, idn, 2021, on="2021-03-10")["covered_on"] is True
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


# -- corrections reach the edge (更正), and the newborn fee waiver is decided again ----------------


def bureau(api):
    return h(api, "bureau")


def correct(api, idn: str, **body):
    return api.post(f"/v1/persons/{idn}/corrections", json={"reason": "登记有误", **body}, headers=bureau(api))


def test_a_missing_hukou_date_is_supplied_by_a_correction(api):
    """004: a newborn registered without its 落户 date is undetermined until the date is known; the
    bureau supplies it by a correction, and the original registration stays in the history."""
    baby = register(api, CHUXIONG, date(2021, 3, 1))
    enroll(api, baby, 2021, "2021-04-10", cohort="newborn")
    pay(api, baby, 2021, "280.00", "2021-04-15T10:00:00+08:00", "hk-1")
    assert coverage(api, baby, 2021)["coverage_status"] == "undetermined"
    before = event_count(api.ledger)
    for body, field, status in (({}, "reason", 400), ({"hukou_registered_on": "2021-02-01"}, "hukou_registered_on", 400),
                                ({"mother_id_number": "532301199001011234"}, "mother_id_number", 400),
                                ({"name": "杨敏", "reason": " "}, "reason", 400),
                                ({"region": "999999999999"}, "region", 400)):
        r = correct(api, baby, **body)
        assert r.status_code in (status, 422) and field in r.text, (body, r.text)
    assert api.post(f"/v1/persons/{baby}/corrections", json={"reason": "x", "name": "李"},
                    headers=h(api, "collector")).status_code == 403
    assert correct(api, make_id(date(2021, 3, 1), "532301"), name="李").status_code == 404
    assert event_count(api.ledger) == before  # no refusal wrote anything
    r = correct(api, baby, hukou_registered_on="2021-03-20", reason="落户日期补录")
    assert r.status_code == 201, r.text
    assert r.json()["hukou_registered_on"] == "2021-03-20"
    answer = coverage(api, baby, 2021)
    assert (answer["coverage_status"], answer["benefit_start"]) == ("covered", "2021-03-01"), answer
    history = api.get(f"/v1/persons/{baby}/history", headers=h(api, "auditor")).json()
    kinds = [row["type"] for row in history["events"]]
    assert kinds[0] == "PersonRegistered" and "RegistrationCorrected" in kinds
    fixed = next(row for row in history["events"] if row["type"] == "RegistrationCorrected")
    assert fixed["data"]["reason"] == "落户日期补录" and fixed["actor"] == "bureau-all"


def _parents(api, father_pays: bool = True) -> tuple[str, str]:
    mother, father = register(api, CHUXIONG, date(1995, 1, 1)), register(api, CHUXIONG, date(1994, 1, 1))
    for parent in (mother, father):
        enroll(api, parent, 2021, "2020-10-01")
    pay(api, mother, 2021, "280.00", "2020-10-02T10:00:00+08:00", f"m-{mother}")
    if father_pays:
        pay(api, father, 2021, "280.00", "2020-10-02T10:00:00+08:00", f"f-{father}")
    return mother, father


def test_the_waiver_is_decided_again_when_the_birth_is_certified(api):
    """「父母双方均已参加…并符合计划生育政策规定的新生儿，出生当年不用缴费」: both parents paid, the baby enrolled
    before the compliance certificate came. The certificate settles it: nothing is payable."""
    mother, father = _parents(api)
    baby = register(api, CHUXIONG, date(2021, 4, 20), hukou_registered_on="2021-05-01",
                    mother_id_number=mother, father_id_number=father)
    view = enroll(api, baby, 2021, "2021-06-01", cohort="newborn")
    assert view["coverage_status"] == "undetermined" and "not certified" in view["undetermined_because"]
    certify(api, baby, "fp_compliant_birth", "2021-04-20")
    answer = coverage(api, baby, 2021)
    assert (answer["individual_payable"], answer["status"], answer["benefit_start"]) == ("0.00", "paid", "2021-04-20")
    assert any("contribution waived" in line for line in answer["explanation"])
    # The payable list shows nothing owed; the subsidies report pays nothing for a waiver.
    auditor = h(api, "auditor")
    params = {"region": "532301", "year": 2021, "as_of": "2021-12-31"}
    assert api.get("/v1/reports/subsidies", params=params, headers=auditor).json()["total"]["persons"] == 0
    listed = api.get("/v1/reports/payable", params=params, headers=auditor).json()
    row = next(r for r in listed["rows"] if r["id_number"] == baby)
    assert (row["fee_waiver_mark"], row["subsidy_mark"], row["individual_payable"]) == (1, 0, "0.00")
    assert "不用缴费" in row["fee_waiver"] and listed["total"]["fee_waiver_mark"] == 1
    parent_row = next(r for r in listed["rows"] if r["id_number"] == mother)
    assert parent_row["fee_waiver_mark"] == 0


def test_a_parents_payment_decides_the_waiver_again(api):
    mother, father = _parents(api, father_pays=False)
    baby = register(api, CHUXIONG, date(2021, 4, 20), hukou_registered_on="2021-05-01",
                    mother_id_number=mother, father_id_number=father)
    certify(api, baby, "fp_compliant_birth", "2021-04-20")
    view = enroll(api, baby, 2021, "2021-06-01", cohort="newborn")
    assert "the father is enrolled but has not fully paid" in view["undetermined_because"]
    pay(api, father, 2021, "280.00", "2021-02-20T10:00:00+08:00", "late-father")
    answer = coverage(api, baby, 2021)
    assert (answer["individual_payable"], answer["status"]) == ("0.00", "paid"), answer
    history = api.get(f"/v1/persons/{father}/history", headers=h(api, "auditor")).json()
    assert any(row["type"] == "ChildRecorded" for row in history["events"])


def test_a_waiver_known_after_the_baby_paid_in_full_is_granted_all_the_same(api):
    """The family paid the baby's 280.00 before the compliance certificate came: 「出生当年不用缴费」
    still holds. The waiver is decided, nothing is payable, and the 280.00 is paid beyond it; 004 does
    not say whether it is refunded, so the answer says so instead of a silent refund or none."""
    mother, father = _parents(api)
    baby = register(api, CHUXIONG, date(2021, 4, 20), hukou_registered_on="2021-05-01",
                    mother_id_number=mother, father_id_number=father)
    enroll(api, baby, 2021, "2021-06-01", cohort="newborn")
    pay(api, baby, 2021, "280.00", "2021-06-02T10:00:00+08:00", f"b-{baby}")
    assert coverage(api, baby, 2021)["individual_payable"] == "280.00"
    certify(api, baby, "fp_compliant_birth", "2021-04-20")
    answer = coverage(api, baby, 2021)
    assert (answer["individual_payable"], answer["paid"], answer["status"]) == ("0.00", "280.00", "paid"), answer
    assert answer["benefit_start"] == "2021-04-20" and answer["refund"] == "0.00"
    assert any("280.00 paid beyond the payable after the fee waiver" in line and "undetermined" in line
               for line in answer["explanation"]), answer["explanation"]
    listed = api.get("/v1/reports/payable", params={"region": "532301", "year": 2021, "as_of": "2021-12-31"},
                     headers=h(api, "auditor")).json()
    row = next(r for r in listed["rows"] if r["id_number"] == baby)
    assert (row["fee_waiver_mark"], row["individual_payable"], row["paid"]) == (1, "0.00", "280.00")


def test_a_father_not_on_the_registration_is_unknown_not_absent(api):
    """The registration names the mother alone: whether the father is enrolled is unknown, so the
    waiver is undetermined (never a silent 280.00); naming him by a correction settles it."""
    mother, father = _parents(api)
    baby = register(api, CHUXIONG, date(2021, 4, 20), hukou_registered_on="2021-05-01", mother_id_number=mother)
    certify(api, baby, "fp_compliant_birth", "2021-04-20")
    view = enroll(api, baby, 2021, "2021-06-01", cohort="newborn")
    assert view["coverage_status"] == "undetermined"
    assert "the father is not named on the newborn's registration" in view["undetermined_because"]
    stranger = make_id(date(1990, 1, 1), "532301")
    r = correct(api, baby, father_id_number=stranger)
    assert r.status_code == 201
    assert "not on record" in r.json()["enrollments"][0]["undetermined_because"]
    r = correct(api, baby, father_id_number=father, reason="父亲身份证号录错")
    assert r.status_code == 201, r.text
    assert r.json()["father_id_number"] == father[:6] + "********" + father[-4:]
    answer = r.json()["enrollments"][0]
    assert (answer["individual_payable"], answer["status"], answer["benefit_start"]) == ("0.00", "paid", "2021-04-20")


def test_a_category_recorded_in_error_is_retracted_and_the_subsidy_decided_again(api, clock):
    """003: 低保 recorded in error gave a full 280.00. Retracted, the person owes the contribution;
    the subsidies report as known before the retraction is unchanged."""
    idn = register(api, "500110001001", date(1960, 6, 6))
    certify(api, idn, "低保对象", "2020-01-01")
    assert enroll(api, idn, 2021, "2020-11-05")["subsidy"]["amount"] == "280.00"
    params = {"region": "500110", "year": 2021, "as_of": "2021-03-01"}
    auditor = h(api, "auditor")
    known_before = api.get("/v1/persons/" + idn + "/history", headers=auditor).json()["events"][-1]["recorded_at"]
    clock.advance(hours=1)
    before = event_count(api.ledger)
    url = f"/v1/persons/{idn}/identities/retraction"
    for body, field, status in (({"category": "特困人员", "reason": "录入错误"}, "category", 409),
                                ({"category": "no-such", "reason": "录入错误"}, "category", 400),
                                ({"category": "低保对象", "reason": ""}, "reason", 400)):
        r = api.post(url, json=body, headers=bureau(api))
        assert r.status_code in (status, 422) and field in r.text, (body, r.text)
    assert api.post(url, json={"category": "低保对象", "reason": "x"}, headers=h(api, "collector")).status_code == 403
    assert event_count(api.ledger) == before
    r = api.post(url, json={"category": "低保对象", "reason": "民政复核：非低保对象，录入错误"}, headers=bureau(api))
    assert r.status_code == 201 and r.json()["categories"] == [], r.text
    answer = coverage(api, idn, 2021)
    assert (answer["individual_payable"], answer["outstanding"], answer["status"]) == ("280.00", "280.00", "enrolled")
    now = api.get("/v1/reports/subsidies", params=params, headers=auditor).json()
    assert now["total"]["persons"] == 0
    then = api.get("/v1/reports/subsidies", params={**params, "known_at": known_before}, headers=auditor).json()
    assert (then["total"]["persons"], then["total"]["amount"]) == (1, "280.00")
    history = api.get(f"/v1/persons/{idn}/history", headers=auditor).json()["events"]
    retraction = next(row for row in history if row["type"] == "IdentityRetracted")
    certified = next(row for row in history if row["type"] == "IdentityCertified")
    assert retraction["data"]["corrects"] == certified["position"]


def test_a_payment_posted_to_the_wrong_person_is_moved_where_it_belongs(api):
    wrong, right = register(api, "500110001001", date(1970, 1, 1)), register(api, "500110001001", date(1971, 1, 1))
    for idn in (wrong, right):
        enroll(api, idn, 2021, "2020-11-05")
    paid = pay(api, wrong, 2021, "280.00", "2020-11-06T10:00:00+08:00", "mv-1")
    payment_id = paid["payment_id"]
    unenrolled = register(api, "500110001001", date(1972, 1, 1))
    url = f"/v1/persons/{wrong}/payments/{payment_id}/move"
    before = event_count(api.ledger)
    for body, field, status in (({"reason": "付错人"}, "to_year", 400),
                                ({"reason": "付错人", "to_id_number": wrong}, "to_id_number", 400),
                                ({"reason": "付错人", "to_id_number": unenrolled}, "year", 409),
                                ({"reason": " ", "to_id_number": right}, "reason", 400)):
        r = api.post(url, json=body, headers=bureau(api))
        assert r.status_code in (status, 422) and field in r.text, (body, r.text)
    assert api.post(url, json={"reason": "x", "to_id_number": right}, headers=h(api, "collector")).status_code == 403
    assert event_count(api.ledger) == before  # the refused move voided nothing
    assert coverage(api, wrong, 2021)["status"] == "paid"
    r = api.post(url, json={"reason": "收费员录入身份证号错误", "to_id_number": right}, headers=bureau(api))
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["enrollment"]["status"] == "paid" and body["left_behind"]["outstanding"] == "280.00"
    assert "收费员录入身份证号错误" in body["moved_from"]
    again = api.post(url, json={"reason": "again", "to_id_number": right}, headers=bureau(api))
    assert again.status_code == 409 and "voided already" in again.text
    collections = api.get("/v1/reports/collections", params={"region": "500110", "year": 2021, "as_of": "2021-12-31"},
                          headers=h(api, "auditor")).json()
    assert (collections["total"]["payments"], collections["total"]["amount"]) == (1, "280.00")


def test_a_babys_late_own_enrollment_keeps_the_cover_it_had_through_its_mother(api):
    """003 「未独立参保的，可随参加居民医保的母亲享受居民医保待遇，从出生之日起」: the baby was 未独立参保 until it
    enrolled; a claim paid in May on its mother's cover stays covered when the baby enrolls in July."""
    mother = register(api, "500110001001", date(1992, 2, 2))
    enroll(api, mother, 2021, "2020-11-05")
    pay(api, mother, 2021, "280.00", "2020-11-06T10:00:00+08:00", "a11-m")
    baby = register(api, "500110001001", date(2021, 4, 1), hukou_registered_on="2021-04-10", mother_id_number=mother)
    assert coverage(api, baby, 2021, on="2021-05-01")["coverage_status"] == "covered"
    enroll(api, baby, 2021, "2021-07-01", cohort="newborn")
    own = pay(api, baby, 2021, "280.00", "2021-07-01T10:00:00+08:00", "a11-b")["enrollment"]
    start = date.fromisoformat(own["benefit_start"])
    assert start > date(2021, 7, 1), own  # paid 91 days after birth: its own cover begins later
    may = coverage(api, baby, 2021, on="2021-05-01")
    assert (may["coverage_status"], may["covered_on"]) == ("covered", True), may
    assert "before enrolling in its own right" in may["covered_through"]
    gap = coverage(api, baby, 2021, on=(start - (start - date(2021, 7, 1)) / 2).isoformat())
    assert (gap["coverage_status"], gap["covered_on"]) == ("undetermined", None), gap
    assert coverage(api, baby, 2021, on=start.isoformat())["covered_on"] is True


# -- inferred dates are marked so, and none is invented (SPEC: 000 states no dates) ---------------


def test_qianjiang_takes_a_payment_before_september_and_names_its_inferred_window(api):
    idn = register(api, "500114001001", date(1980, 8, 8))
    enroll(api, idn, 2021, "2020-08-15")
    view = pay(api, idn, 2021, "280.00", "2020-08-20T10:00:00+08:00", "b3-aug")["enrollment"]
    assert view["benefit_start"] == "2021-01-01", view
    assert any("inferred from 003" in line for line in view["explanation"]), view["explanation"]
    assert not any("before" in line and "window opens" in line for line in view["explanation"])


def test_a_students_academic_year_is_marked_inferred(api):
    """000 and 003 price 「2020年9月—2021年8月学年度」 and state no benefit dates for students."""
    for village in ("500114001001", "500110001001"):
        idn = register(api, village, date(2001, 3, 3))
        enroll(api, idn, 2021, "2020-11-05", cohort="student", school="某高校")
        view = pay(api, idn, 2021, "250.00", "2020-11-06T10:00:00+08:00", f"b2-{village}")["enrollment"]
        assert any("academic year" in line and "inferred" in line for line in view["explanation"]), view["explanation"]


def test_the_student_price_is_for_university_students_only(api):
    """003 三（一）「在綦高校大学生…一档250元/人」; 中小学生 are residents at 280 (二 lists them apart)."""
    child = register(api, "500110001001", date(2015, 5, 5))
    undergraduate = register(api, "500110001001", date(2001, 3, 3))
    before = event_count(api.ledger)
    for idn, body, field, rule in ((child, {"school": "某高校"}, "cohort", "student_age"),
                                   (undergraduate, {}, "school", "student_school"),
                                   (undergraduate, {"school": "  "}, "school", "")):
        r = api.post("/v1/enrollments", json={"id_number": idn, "year": 2021, "tier": 1, "enrolled_on": "2020-11-05",
                                              "cohort": "student", **body}, headers=h(api))
        assert r.status_code in (400, 422) and field in r.text and rule in r.text, r.text
    assert event_count(api.ledger) == before
    assert enroll(api, child, 2021, "2020-11-05")["contribution"] == "280.00"  # a pupil pays as a resident
    view = enroll(api, undergraduate, 2021, "2020-11-05", cohort="student", school="某高校")
    assert view["contribution"] == "250.00"


def test_the_enrollment_report_tells_cover_undetermined_from_amount_undetermined(api):
    """Two kinds the report kept in one column: a paid baby whose start no rule settles (both 90-day
    sentences name it), and an unpaid baby whose waiver waits for its father to be named."""
    settled_late = register(api, CHUXIONG, date(2021, 1, 1), hukou_registered_on="2021-05-01")
    enroll(api, settled_late, 2021, "2021-06-01", cohort="newborn")
    pay(api, settled_late, 2021, "280.00", "2021-06-01T10:00:00+08:00", "d2-paid")
    mother, _ = _parents(api)
    waiting = register(api, CHUXIONG, date(2021, 4, 20), hukou_registered_on="2021-05-01", mother_id_number=mother)
    enroll(api, waiting, 2021, "2021-06-01", cohort="newborn")
    body = api.get("/v1/reports/enrollment", params={"region": "532301", "year": 2021, "as_of": "2021-12-31"},
                   headers=h(api, "auditor")).json()
    total = body["total"]
    assert (total["undetermined"], total["coverage_undetermined"], total["payable_undetermined"]) == (2, 1, 1), total
    csv = api.get("/v1/reports/enrollment", params={"region": "532301", "year": 2021, "as_of": "2021-12-31",
                                                    "format": "csv"}, headers=h(api, "auditor")).text
    assert "coverage_undetermined" in csv.splitlines()[0] and "payable_undetermined" in csv.splitlines()[0]


def test_the_subsidies_report_counts_whom_a_funder_will_pay_for_before_the_amount_is_set(api):
    """004 六（二）5 「根据政策据实进行补助」: the health commission pays for 农村独生子女 at an amount other
    rules set. Enrolled and not yet paid, such a person is counted for that funder, apart from what
    is spent, never as 0.00 spent."""
    idn = register(api, CHUXIONG, date(1970, 7, 7))
    certify(api, idn, "fp_rural_one_child", "2020-01-01")
    view = enroll(api, idn, 2021, "2020-10-01")
    assert view["coverage_status"] == "undetermined" and view["subsidy"] is None, view
    body = api.get("/v1/reports/subsidies", params={"region": "532301", "year": 2021, "as_of": "2021-12-31"},
                   headers=h(api, "auditor")).json()
    row = next(r for r in body["rows"] if r["category"] == "fp_rural_one_child")
    assert (row["funder"], row["persons"], row["amount"], row["persons_amount_undetermined"]) == (
        "health_commission", 0, "0.00", 1), row
    assert body["total"]["persons_amount_undetermined"] == 1 and body["warnings"]
    # Paid in full, without the subsidy it awaits, the person is still one the funder will pay for
    # (the amount, once set, is theirs): counted so, and nothing is counted as spent.
    pay(api, idn, 2021, view["individual_payable"], "2020-10-02T10:00:00+08:00", f"jushi-{idn}")
    assert coverage(api, idn, 2021)["status"] == "paid"
    body = api.get("/v1/reports/subsidies", params={"region": "532301", "year": 2021, "as_of": "2021-12-31"},
                   headers=h(api, "auditor")).json()
    row = next(r for r in body["rows"] if r["category"] == "fp_rural_one_child")
    assert (row["persons"], row["amount"], row["persons_amount_undetermined"]) == (0, "0.00", 1), row


# -- the village lists name each village as the bureau's target table does ----------------------


def test_village_lists_take_the_names_of_the_loaded_target_table(api, clock, tmp_path):
    """应保未保 and 应征缴明细 go to village cadres: a village is named, not given as a 12-digit code.
    No name is shipped for Qijiang's villages; the bureau's table for the township brings them, and a
    list as known before it was loaded still has none."""
    import subprocess
    import sys

    from conftest import ledger_environ

    assisted = register(api, "500110001003", date(1960, 6, 6))
    certify(api, assisted, "dibao", "2020-01-01")
    params = {"region": "500110", "year": 2021, "as_of": "2021-03-01"}
    auditor = h(api, "auditor")

    def names(kind: str, **more) -> list[tuple[str, str]]:
        rows = api.get(f"/v1/reports/{kind}", params={**params, **more}, headers=auditor).json()["rows"]
        return [(r["village"], r["village_name"]) for r in rows]

    assert names("unenrolled-assisted") == [("500110001003", "")]  # nobody has named it yet: never the code
    before = clock.advance(minutes=1)
    clock.advance(minutes=1)
    table = tmp_path / "gunan-2021.csv"
    table.write_text("区划代码,名称,户籍人口,任务数\n500110001001,新华社区,900,850\n500110001003,沙溪村,1200,1100\n",
                     encoding="gb18030")
    done = subprocess.run([sys.executable, "-m", "api.cli", "targets", "load", str(table), "--year", "2021",
                           "--region", "500110001"], cwd=tmp_path, env=ledger_environ(api.ledger.env),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert names("unenrolled-assisted") == [("500110001003", "沙溪村")]
    assert names("unenrolled-assisted", known_at=before.isoformat()) == [("500110001003", "")]
    enroll(api, assisted, 2021, "2020-11-05")
    assert names("payable") == [("500110001003", "沙溪村")]
    csv_text = api.get("/v1/reports/payable", params={**params, "format": "csv"}, headers=auditor).content.decode("utf-8-sig")
    assert "沙溪村" in csv_text


def test_a_permits_birth_date_is_corrected_and_the_answer_as_known_before_stays(api, clock):
    """A 港澳居民来往内地通行证 carries no birth date in its number: the clerk types it, and a typo is
    corrected like any field of the registration. A resident identity number's birth date is its own
    digits and is refused, naming why; a date that would put a recorded fact before the birth, or
    make a newborn's enrollment a lie, is refused; nothing refused is written."""
    village, permit = "500114001001", "H12345678"
    q = {"document_type": "hk_macao_pass"}
    r = api.post("/v1/persons", json={"id_number": permit, "document_type": "hk_macao_pass", "name": "陈港",
                                      "sex": "female", "birth_date": "2021-03-05", "region": village}, headers=h(api))
    assert r.status_code == 201, r.text
    r = api.post("/v1/enrollments", headers=h(api), json={"id_number": permit, "year": 2021, "tier": 1,
                 "enrolled_on": "2021-03-10", "cohort": "newborn", **q})
    assert r.status_code == 201, r.text
    r = api.post("/v1/payments", headers={**h(api), "Idempotency-Key": "permit-1"},
                 json={"id_number": permit, "year": 2021, "amount": r.json()["individual_payable"],
                       "paid_at": "2021-03-12T10:00:00+08:00", "channel": "wechat", **q})
    assert r.status_code == 201 and r.json()["enrollment"]["status"] == "paid", r.text
    before = clock.advance(minutes=1)
    clock.advance(minutes=1)
    resident = register(api, village, date(1980, 2, 2))
    written = event_count(api.ledger)
    for idn, params, body, field, rule in (
        (resident, {}, {"birth_date": "1980-02-03"}, "birth_date", "birth_date_in_id_number"),
        (permit, q, {"birth_date": "2021-03-11"}, "birth_date", "date_range"),  # after its enrollment
        (permit, q, {"birth_date": "2031-01-01"}, "birth_date", "date_range"),  # in the future
        (permit, q, {"birth_date": "2019-12-30"}, "birth_date", "newborn_age"),  # no newborn of 2021 then
        (permit, q, {"birth_date": "2021-02-30"}, "birth_date", None),
    ):
        r = api.post(f"/v1/persons/{idn}/corrections", params=params, headers=bureau(api),
                     json={"reason": "出生日期录错", **body})
        assert r.status_code in (400, 409, 422) and field in r.text, (body, r.text)
        if rule:
            assert r.json()["type"].endswith("/" + rule), r.json()
    assert event_count(api.ledger) == written
    old = api.get(f"/v1/persons/{permit}/coverage", params={**q, "year": 2021}, headers=h(api)).json()
    r = api.post(f"/v1/persons/{permit}/corrections", params=q, headers=bureau(api),
                 json={"reason": "通行证出生日期录错", "birth_date": "2021-03-01"})
    assert r.status_code == 201, r.text
    assert r.json()["birth_date"] == "2021-03-01"
    now = api.get(f"/v1/persons/{permit}/coverage", params={**q, "year": 2021}, headers=h(api)).json()
    then = api.get(f"/v1/persons/{permit}/coverage", params={**q, "year": 2021, "known_at": before.isoformat()},
                   headers=h(api)).json()
    assert then == old
    # Paid within 90 days of birth, a newborn is covered from birth: the corrected birth moves the start.
    assert (old["benefit_start"], now["benefit_start"]) == ("2021-03-05", "2021-03-01")
    fixed = [e for e in api.get(f"/v1/persons/{permit}/history", params=q, headers=h(api, "auditor")).json()["events"]
             if e["type"] == "RegistrationCorrected"]
    assert [(e["data"]["birth_date"], e["data"]["corrects"]) for e in fixed] == [("2021-03-01", 1)]
