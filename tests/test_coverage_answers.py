"""What the ledger tells a bureau about cover: undetermined is not "no", `on` is not `as_of`, and
paid is what counts (SPEC Decisions 12-14), through the API and the CLI on both backends.

Oracles independent of the code: the notices' own rules worked by hand in each test (dates,
rates written out as literal decimal strings), and identity numbers built from literal check
characters (ID below), not from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date

import openpyxl

from conftest import ledger_environ
from test_api import CHUXIONG, enroll, h, pay, register

CHAQI = "430623110201"


def ID(first17: str, check: str) -> str:
    """An identity number whose check character the test states, rather than asks the code for."""
    return first17 + check


# 2021-04-01 newborn, 2020-12-01 newborn, adults: check characters computed with GB 11643's MOD 11-2
# formula outside the project's code, and written here as literals.
NEWBORN_APR = ID("50011020210401001", "1")
NEWBORN_DEC = ID("43062320201201002", "3")
ADULT_A = ID("50011019800101003", "6")
ADULT_B = ID("50011019800101004", "4")
ADULT_C = ID("50011019800101005", "2")
ADULT_D = ID("50011019800101006", "0")
CX_BABY = ID("53230120210105007", "9")
CX_ADULT = ID("53230119700101008", "4")


def coverage(api, idn, role="auditor", **params):
    r = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021, **params}, headers=h(api, role))
    assert r.status_code == 200, r.text
    return r.json()


def test_check_characters_used_here_are_the_standards():
    """The literal numbers above check, so the ledger accepts them (a wrong one would be refused)."""
    from domain.idnumber import parse_resident_id

    for n in (NEWBORN_APR, NEWBORN_DEC, ADULT_A, ADULT_B, ADULT_C, ADULT_D, CX_BABY, CX_ADULT):
        assert parse_resident_id(n).number == n


# -- undetermined is not "not covered" -----------------------------------------------------------------


def test_a_paid_newborn_where_the_notice_has_no_rule_is_undetermined_everywhere(api, tmp_path):
    """Chaqi (notice 001) states no newborn rule: paid in full, the start is undetermined, named."""
    assert register(api, id_number=NEWBORN_DEC, region=CHAQI)[1].status_code == 201
    enroll(api, NEWBORN_DEC, cohort="newborn", enrolled_on="2020-12-10")
    assert pay(api, NEWBORN_DEC, key="nb", amount="280.00", paid_at="2020-12-10T10:00:00+08:00").status_code == 201
    body = coverage(api, NEWBORN_DEC)
    assert body["status"] == "paid" and body["coverage_status"] == "undetermined"
    assert "newborn rule unspecified" in body["undetermined_because"] and body["covered_on"] is None
    on_a_day = coverage(api, NEWBORN_DEC, on="2021-03-01")
    assert on_a_day["coverage_status"] == "undetermined" and on_a_day["covered_on"] is None
    report = api.get("/v1/reports/enrollment", params={"region": "430623110", "year": 2021, "as_of": "2021-03-01"},
                     headers=h(api, "auditor")).json()
    assert (report["total"]["paid"], report["total"]["covered"], report["total"]["undetermined"]) == (1, 0, 1)
    csv_text = api.get("/v1/reports/enrollment", params={"region": "430623110", "year": 2021, "as_of": "2021-03-01",
                                                         "format": "csv"}, headers=h(api)).content.decode("utf-8-sig")
    total = next(r for r in csv.DictReader(io.StringIO(csv_text)) if r["region"] == "430623110")
    assert (total["covered"], total["undetermined"]) == ("0", "1")
    sheet = openpyxl.load_workbook(io.BytesIO(api.get(
        "/v1/reports/enrollment", params={"region": "430623110", "year": 2021, "as_of": "2021-03-01", "format": "xlsx"},
        headers=h(api)).content)).active
    header = [c.value for c in sheet[1]]
    assert sheet.cell(sheet.max_row, header.index("undetermined") + 1).value == 1
    done = subprocess.run([sys.executable, "-m", "api.cli", "coverage", NEWBORN_DEC, "--year", "2021", "--on", "2021-03-01"],
                          cwd=tmp_path, env=ledger_environ(api.ledger.env), capture_output=True, text=True, timeout=60)
    cli = json.loads(done.stdout)
    assert cli["coverage_status"] == "undetermined" and cli["covered_on"] is None


def test_a_late_payment_where_the_notice_has_no_rule_is_undetermined_not_uncovered(api):
    """Chaqi's window closes 2020-12-31 and the notice has no late-payment rule."""
    adult = ID("43062319800101009", "6")
    register(api, id_number=adult, region=CHAQI)
    enroll(api, adult, enrolled_on="2021-01-10")
    pay(api, adult, key="late", amount="280.00", paid_at="2021-01-10T10:00:00+08:00")
    body = coverage(api, adult, on="2021-06-01")
    assert body["coverage_status"] == "undetermined" and "no rule for a contribution" in body["undetermined_because"]


def test_a_chuxiong_newborn_without_a_hukou_date_is_undetermined(api):
    register(api, id_number=CX_BABY, region=CHUXIONG)
    enroll(api, CX_BABY, cohort="newborn", enrolled_on="2021-01-20")
    pay(api, CX_BABY, key="cx", amount="280.00", paid_at="2021-01-20T10:00:00+08:00")
    body = coverage(api, CX_BABY, on="2021-01-05")
    assert body["coverage_status"] == "undetermined" and "落户" in body["undetermined_because"]


def test_covered_and_not_covered_are_still_said_plainly(api):
    register(api, id_number=ADULT_A)
    enroll(api, ADULT_A)
    pay(api, ADULT_A, key="a", amount="280.00", paid_at="2020-11-20T10:00:00+08:00")
    assert coverage(api, ADULT_A)["coverage_status"] == "covered"
    assert coverage(api, ADULT_A, on="2021-01-01")["covered_on"] is True
    assert coverage(api, ADULT_A, on="2020-12-31") | {"explanation": None} == coverage(api, ADULT_A, on="2020-12-31") | {
        "explanation": None, "coverage_status": "not_covered", "covered_on": False}
    register(api, id_number=ADULT_B)
    enroll(api, ADULT_B)
    unpaid = coverage(api, ADULT_B, on="2021-06-01")
    assert (unpaid["status"], unpaid["coverage_status"], unpaid["covered_on"]) == ("enrolled", "not_covered", False)


# -- `on` asks about a date; `as_of` cuts the world at a date ----------------------------------------------


def test_on_is_the_date_tested_with_everything_known_and_as_of_is_the_world_then(api):
    """Qijiang: a newborn enrolled and paid within 90 days of birth is covered from birth
    (綦医保发〔2020〕47号). Born 2021-04-01, paid 2021-06-20: covered on 2021-04-01, as known now;
    but as things stood on 2021-04-01 nothing was enrolled yet."""
    register(api, id_number=NEWBORN_APR)
    enroll(api, NEWBORN_APR, cohort="newborn", enrolled_on="2021-06-20")
    pay(api, NEWBORN_APR, key="nb", amount="280.00", paid_at="2021-06-20T10:00:00+08:00")
    on = coverage(api, NEWBORN_APR, on="2021-04-01")
    assert (on["benefit_start"], on["coverage_status"], on["covered_on"]) == ("2021-04-01", "covered", True)
    assert coverage(api, NEWBORN_APR, on="2021-03-31")["covered_on"] is False
    as_of = coverage(api, NEWBORN_APR, as_of="2021-04-01")
    assert (as_of["status"], as_of["coverage_status"]) == ("not_enrolled", "not_covered")
    both = coverage(api, NEWBORN_APR, as_of="2021-06-30", on="2021-04-01")
    assert both["covered_on"] is True


def test_a_chuxiong_payer_in_february_is_covered_in_january(api):
    """Chuxiong's window runs to 2021-02-28; paid inside it, the whole year is covered."""
    register(api, id_number=CX_ADULT, region=CHUXIONG)
    enroll(api, CX_ADULT, enrolled_on="2021-02-15")
    pay(api, CX_ADULT, key="cx", amount="280.00", paid_at="2021-02-15T10:00:00+08:00")
    assert coverage(api, CX_ADULT, on="2021-01-15")["covered_on"] is True
    assert coverage(api, CX_ADULT, as_of="2021-01-15")["status"] == "not_enrolled"  # enrolled in February


# -- paid is what counts ---------------------------------------------------------------------------------


def load_targets(api, tmp_path, rows):
    path = tmp_path / "targets.csv"
    path.write_text("code,name,population,target\n" + "".join(f"{c},{n},{p},{t}\n" for c, n, p, t in rows),
                    encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "api.cli", "targets", "load", str(path), "--year", "2021",
                           "--region", "500110"], cwd=tmp_path, env=ledger_environ(api.ledger.env),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_rates_and_assisted_counts_are_of_persons_enrolled_and_paid(api, tmp_path):
    """Township 500110001: population 4, target 3. Two paid (one assisted), one enrolled and unpaid
    (assisted): 参保率 = 2/4 = 0.5000 and 2/3 = 0.6667, never 3/4 or 3/3."""
    load_targets(api, tmp_path, [("500110001", "古南街道", 4, 3), ("500110002", "文龙街道", 10, 9)])
    for idn in (ADULT_A, ADULT_B, ADULT_C):
        register(api, id_number=idn)
        enroll(api, idn)
    for idn in (ADULT_B, ADULT_C):  # both assisted: ADULT_B will pay, ADULT_C will not
        api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                 json={"category": "poverty_consolidated", "action": "certify", "effective_on": "2020-01-01"})
    pay(api, ADULT_A, key="a", amount="280.00", paid_at="2020-11-20T10:00:00+08:00")
    payable_b = coverage(api, ADULT_B)["outstanding"]
    pay(api, ADULT_B, key="b", amount=payable_b, paid_at="2020-11-20T10:00:00+08:00")
    report = api.get("/v1/reports/enrollment", params={"region": "500110", "year": 2021, "as_of": "2021-03-01"},
                     headers=h(api)).json()
    row = next(r for r in report["rows"] if r["region"] == "500110001")
    assert (row["enrolled"], row["paid"], row["enrolled_unpaid"], row["assisted"], row["assisted_enrolled"]) == (3, 2, 1, 2, 1)
    assert (row["rate_of_population"], row["rate_of_target"]) == ("0.5000", "0.6667")
    assert (report["total"]["rate_of_population"], report["total"]["rate_of_target"]) == ("0.1429", "0.1667")  # 2/14, 2/12
    # Qijiang's targets (003: 95% of the population; 100% of the assisted): 2 paid of 3 targeted is
    # below, and so is one assisted person of two; the empty township is below its 9 as well.
    assert report["targets"]["rate_of_population"] == "0.95" and report["targets"]["assisted"] == "1.00"
    assert (row["below_target"], row["assisted_below_target"]) == (True, True)
    empty = next(r for r in report["rows"] if r["region"] == "500110002")
    assert (empty["below_target"], empty["assisted_below_target"]) == (True, False)
    assert "2 of 2 regions below their target: 古南街道, 文龙街道" in report["warnings"]
    # 应保未保: the assisted person who enrolled and never paid is still on the list, said so.
    listed = api.get("/v1/reports/unenrolled-assisted", params={"region": "500110", "year": 2021, "as_of": "2021-03-01"},
                     headers=h(api)).json()["rows"]
    assert [(r["id_number"][-4:], r["enrollment"]) for r in listed] == [(ADULT_C[-4:], "enrolled_unpaid")]


def test_a_region_meeting_its_target_is_not_marked(api, tmp_path):
    """Township 500110001: population 2, target 2, both paid (one assisted): 2/2 meets 95% and the
    target number; the assisted person paid. Not marked, no warning."""
    load_targets(api, tmp_path, [("500110001", "古南街道", 2, 2)])
    for idn in (ADULT_A, ADULT_B):
        register(api, id_number=idn)
        enroll(api, idn)
        pay(api, idn, key=idn, amount="280.00", paid_at="2020-11-20T10:00:00+08:00")
    api.post(f"/v1/persons/{ADULT_B}/identities", headers=h(api, "bureau"),
             json={"category": "dibao", "action": "certify", "effective_on": "2021-01-01"})
    report = api.get("/v1/reports/enrollment", params={"region": "500110", "year": 2021, "as_of": "2021-03-01"},
                     headers=h(api)).json()
    row = report["rows"][0]
    assert (row["paid"], row["assisted"], row["assisted_enrolled"]) == (2, 1, 1)
    assert (row["below_target"], row["assisted_below_target"]) == (False, False)
    assert not [w for w in report["warnings"] if "target" in w or "assisted" in w]


def test_a_subsidy_is_counted_as_spent_only_when_its_enrollment_is_paid(api):
    """Qijiang: 巩固脱贫户 50% of 280.00 = 140.00 (policy 500110-2021); 低保 100% = 280.00, paid on grant."""
    for idn, category in ((ADULT_A, "poverty_consolidated"), (ADULT_D, "dibao")):
        register(api, id_number=idn)
        api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                 json={"category": category, "action": "certify", "effective_on": "2020-01-01"})
        enroll(api, idn)

    def totals():
        body = api.get("/v1/reports/subsidies", params={"region": "500110", "year": 2021, "as_of": "2021-03-01"},
                       headers=h(api)).json()
        return {r["category"]: (r["persons"], r["amount"]) for r in body["rows"]}, body["total"]["amount"]

    assert totals() == ({"dibao": (1, "280.00")}, "280.00")  # the half-subsidised person has not paid yet
    pay(api, ADULT_A, key="a", amount="140.00", paid_at="2020-11-20T10:00:00+08:00")
    assert totals() == ({"dibao": (1, "280.00"), "poverty_consolidated": (1, "140.00")}, "420.00")


def test_report_rows_of_an_older_shape_are_made_again_from_the_log(store_env, clock):
    """A projection made before `undetermined` was a fact of its rows cannot be completed in place:
    opening it drops those rows and makes them again from the log, so the counts are right."""
    from conftest import CLERK
    from domain.dates import CHINA
    from domain.ledger import Ledger
    from projections.service import Reports
    from projections.viewstore import TREE_INDEXES
    from datetime import datetime

    ledger = Ledger(env=store_env, clock=clock)
    ledger.register(CLERK, id_number=NEWBORN_DEC, name="甲", region=CHAQI)
    ledger.enroll(CLERK, id_number=NEWBORN_DEC, year=2021, tier=1, cohort="newborn", enrolled_on=date(2020, 12, 10))
    ledger.pay(CLERK, id_number=NEWBORN_DEC, year=2021, amount="280.00", channel="wechat",
               paid_at=datetime(2020, 12, 10, 10, tzinfo=CHINA))

    def total():
        reports = Reports(ledger.store, ledger.env)
        try:
            return reports.report("enrollment", "430623110", 2021, date(2021, 3, 1))["total"]
        finally:
            reports.close()

    assert (total()["paid"], total()["undetermined"]) == (1, 1)
    reports = Reports(ledger.store, ledger.env)  # an older version's rows: without the column
    with reports.views.recorder.datastore.transaction(commit=True) as c:
        for index in TREE_INDEXES:  # the older indexes did not cover it
            c.execute(f"DROP INDEX {reports.views.schema}{index}")
        c.execute(f"ALTER TABLE {reports.views.person_rows} DROP COLUMN undetermined")
    reports.close()
    assert (total()["paid"], total()["undetermined"]) == (1, 1)
    ledger.close()


def test_chuxiong_refunds_a_death_inside_its_window_through_the_api(api):
    """004 forbids refunds after its window only; a death on 2020-11-01, before the benefit period
    (from 2021-01-01) started, is refunded the 280.00 paid."""
    register(api, id_number=CX_ADULT, region=CHUXIONG)
    enroll(api, CX_ADULT, enrolled_on="2020-10-01")
    pay(api, CX_ADULT, key="cx", amount="280.00", paid_at="2020-10-01T10:00:00+08:00")
    r = api.post(f"/v1/enrollments/{CX_ADULT}/2021/cancel", headers=h(api, "bureau"),
                 json={"reason": "death", "effective_on": "2020-11-01"})
    assert r.status_code == 201 and r.json()["refund"] == "280.00", r.text


def test_a_chuxiong_baby_born_the_year_before_is_not_a_newborn_there(api):
    """004 speaks of 「当年出生的新生儿」: born 2020-12-01, the baby enrolls for 2021 as a resident
    (bound by the window), not as a newborn; in Qijiang the same birth date still may."""
    from conftest import event_count
    from test_api import assert_problem

    baby = ID("53230120201201010", "4")
    register(api, id_number=baby, region=CHUXIONG)
    before = event_count(api.ledger)
    body = assert_problem(enroll(api, baby, cohort="newborn", enrolled_on="2021-01-10"), 422, "cohort")
    assert "当年出生" in body["detail"] and event_count(api.ledger) == before
    assert enroll(api, baby, enrolled_on="2021-01-10").status_code == 201
    qijiang_baby = ID("50011020201201011", "0")
    register(api, id_number=qijiang_baby)
    assert enroll(api, qijiang_baby, cohort="newborn", enrolled_on="2021-01-10").status_code == 201


def test_cash_in_qijiang_is_taken_but_flagged_in_the_answer_and_the_report(api):
    """003 七（三）「原则上不允许收取现金」: in principle, so the payment stands, flagged where the bureau looks."""
    register(api, id_number=ADULT_A)
    enroll(api, ADULT_A)
    r = pay(api, ADULT_A, key="cash", amount="280.00", channel="cash", receipt_no="QJ-R-1",
            paid_at="2020-11-20T10:00:00+08:00")
    assert r.status_code == 201, r.text
    assert any("原则上不允许收取现金" in line for line in r.json()["enrollment"]["explanation"])
    report = api.get("/v1/reports/collections", params={"region": "500110", "year": 2021, "as_of": "2020-12-31"},
                     headers=h(api)).json()
    assert report["warnings"] == ["cash payments: 1, 280.00 in all, although policy 500110-2021 allows cash only by"
                                  " exception (003 七（三）: 原则上不允许收取现金)"]
    # Chuxiong says nothing against cash: no warning there.
    register(api, id_number=CX_ADULT, region=CHUXIONG)
    enroll(api, CX_ADULT, enrolled_on="2020-10-01")
    pay(api, CX_ADULT, key="cx", amount="280.00", channel="cash", receipt_no="CX-1", paid_at="2020-10-01T10:00:00+08:00")
    assert api.get("/v1/reports/collections", params={"region": "532301", "year": 2021, "as_of": "2020-12-31"},
                   headers=h(api)).json()["warnings"] == []


def test_futian_serves_any_chongqing_person_but_reads_stay_in_scope(api):
    """002 「要实行全渝通办，不得拒绝非本地户籍人员办理参保缴费」: a collection point of Futian registers and
    takes payments for a Qijiang person; it still may not read them, and Qijiang's points, whose
    notice says no such thing, may not serve a Futian person."""
    from api.auth import Tokens
    from test_api import assert_problem

    futian = Tokens(api.ledger).create("collector", ["500237103"], "P-FT", "collector-futian")[1]
    api.tokens["futian"] = futian
    r = register(api, role="futian", id_number=ADULT_C)[1]  # a Qijiang village (VILLAGE)
    assert r.status_code == 201, r.text
    assert enroll(api, ADULT_C, role="futian").status_code == 201
    assert pay(api, ADULT_C, role="futian", key="ft", amount="280.00",
               paid_at="2020-11-20T10:00:00+08:00").status_code == 201
    assert_problem(api.get(f"/v1/persons/{ADULT_C}/coverage", params={"year": 2021}, headers=h(api, "futian")), 403)
    futian_person = ID("50023719800101012", "X")
    assert register(api, id_number=futian_person, region="500237103201")[1].status_code == 201
    assert_problem(register(api, role="scoped", id_number=futian_person, region="500237103201")[1], 403)
    assert_problem(enroll(api, futian_person, role="scoped", year=2022, enrolled_on="2022-01-05"), 403)


def test_chuxiong_graduates_and_veterans_may_pay_after_the_window_with_the_start_undetermined(api):
    """004 三（一）「新生儿、大学毕业生和退伍军人不受当年集中缴费时间的限定」 frees them from the window, and
    says nothing of when they are then covered: accepted, undetermined, named. A resident is refused."""
    from test_api import assert_problem

    graduate, veteran, resident = ID("53230120000101013", "4"), ID("53230119980101014", "5"), CX_ADULT
    for idn, cohort in ((graduate, "graduate"), (veteran, "veteran"), (resident, "resident")):
        register(api, id_number=idn, region=CHUXIONG)
        assert enroll(api, idn, cohort=cohort, enrolled_on="2021-05-01").status_code == 201
    for idn in (graduate, veteran):
        r = pay(api, idn, key=f"g-{idn}", amount="280.00", paid_at="2021-05-01T10:00:00+08:00")
        assert r.status_code == 201, r.text
        body = coverage(api, idn, on="2021-06-01")
        assert body["coverage_status"] == "undetermined" and "不受当年集中缴费时间的限定" in body["undetermined_because"]
    assert_problem(pay(api, resident, key="r", amount="280.00", paid_at="2021-05-01T10:00:00+08:00"), 422, "paid_at")


def test_a_change_of_cohort_within_the_year_is_refused_clearly_not_answered_unchanged(api):
    from test_api import assert_problem

    register(api, id_number=ADULT_D)
    assert enroll(api, ADULT_D, cohort="student", school="某高校").status_code == 201
    body = assert_problem(enroll(api, ADULT_D, cohort="resident"), 409, "cohort")
    assert "already enrolled for 2021 as student" in body["detail"]


def test_a_chuxiong_group_subsidised_by_rules_set_elsewhere_has_an_undetermined_payable(api):
    """004 六（二）5: 「农村独生子女的父母…根据政策据实进行补助」 — the amount is not in the notice. Such a
    person does not owe 280.00 with no warning: the subsidy is undetermined, named, and so is cover
    until the full contribution is paid. Held with 特困 (280.00, the whole contribution) the answer is
    known; with 低保 (120.00) it is not. 「省规定的其他特定困难人员按120元」 gives 120.00."""
    people = {"one_child": ID("53230119800101015", "0"), "with_tekun": ID("53230119800101016", "9"),
              "with_dibao": ID("53230119800101017", "7"), "hardship": ID("53230119800101018", "5")}
    held = {"one_child": ["农村独生子女的父母"], "with_tekun": ["农村独生子女的父母", "特困人员"],
            "with_dibao": ["农村独生子女的父母", "城乡低保对象"], "hardship": ["省规定的其他特定困难人员"]}
    for key, idn in people.items():
        register(api, id_number=idn, region=CHUXIONG)
        for name in held[key]:
            r = api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                         json={"category": name, "action": "certify", "effective_on": "2020-01-01"})
            assert r.status_code == 201, r.text
        assert enroll(api, idn, enrolled_on="2020-10-01").status_code == 201
    one = coverage(api, people["one_child"])
    assert (one["subsidy"], one["individual_payable"], one["coverage_status"]) == (None, "280.00", "undetermined")
    assert "根据政策据实进行补助" in one["undetermined_because"]
    tekun = coverage(api, people["with_tekun"])
    assert (tekun["subsidy"]["category"], tekun["subsidy"]["amount"], tekun["coverage_status"]) == ("tekun", "280.00", "covered")
    assert coverage(api, people["with_dibao"])["coverage_status"] == "undetermined"
    hardship = coverage(api, people["hardship"])
    assert (hardship["subsidy"]["amount"], hardship["individual_payable"]) == ("120.00", "160.00")
    # Paid in full, the one-child parent is fully paid whatever the subsidy: cover is known again.
    pay(api, people["one_child"], key="oc", amount="280.00", paid_at="2020-10-02T10:00:00+08:00")
    paid = coverage(api, people["one_child"], on="2021-01-01")
    assert (paid["status"], paid["coverage_status"], paid["covered_on"]) == ("paid", "covered", True)


def test_an_unenrolled_qijiang_baby_is_covered_through_an_enrolled_mother(api):
    """003: 「未独立参保的，可随参加居民医保的母亲享受居民医保待遇，从出生之日起至2021年12月31日，合计不超过其母当年
    享受的最高支付额」. Mother paid in the window (covered all 2021); baby born 2021-04-01, never
    enrolled: covered from birth through her, said so, her number masked. A mother enrolled but
    unpaid covers nobody; Chuxiong's notice has no such sentence."""
    mother, unpaid_mother = ADULT_A, ADULT_B
    for m in (mother, unpaid_mother):
        register(api, id_number=m)
        enroll(api, m)
    pay(api, mother, key="m", amount="280.00", paid_at="2020-11-20T10:00:00+08:00")
    baby, other_baby = NEWBORN_APR, ID("50011020210401019", "3")
    register(api, id_number=baby, mother_id_number=mother)
    register(api, id_number=other_baby, mother_id_number=unpaid_mother)
    body = coverage(api, baby, on="2021-04-01")
    assert (body["status"], body["coverage_status"], body["covered_on"]) == ("not_enrolled", "covered", True)
    assert (body["benefit_start"], body["benefit_end"]) == ("2021-04-01", "2021-12-31")
    assert "最高支付额" in body["covered_through"] and mother not in body["covered_through"]
    assert mother[:6] in body["covered_through"] and mother not in json.dumps(body, ensure_ascii=False)
    assert coverage(api, baby, on="2021-03-31")["covered_on"] is False
    assert coverage(api, other_baby, on="2021-04-01")["coverage_status"] == "not_covered"


CX_SUBSIDISED_LATE = ID("53230119800303026", "X")
CX_SUBSIDISED_IN_TIME = ID("53230119800303027", "8")


def test_a_subsidy_granted_after_chuxiongs_window_names_the_missing_rule(api):
    """004: 「城乡居民在上述集中缴费期后不得补缴」 binds the resident's own payment; 「对已参保的特困供养人员…
    按280元予以资助」 subsidises persons already enrolled, and no sentence says from when a subsidy granted
    after the window (closing 2021-02-28) covers. Enrolled on 2020-10-01, 特困 certified on 2021-03-15:
    the fund meets the whole 280.00 and the cover is undetermined, named, never "not covered".
    Certified on 2021-02-01, inside the window: covered from 2021-01-01."""
    for idn, certified in ((CX_SUBSIDISED_LATE, "2021-03-15"), (CX_SUBSIDISED_IN_TIME, "2021-02-01")):
        register(api, id_number=idn, region=CHUXIONG)
        enroll(api, idn, enrolled_on="2020-10-01")
        r = api.post(f"/v1/persons/{idn}/identities", json={"category": "tekun", "action": "certify",
                                                             "effective_on": certified}, headers=h(api, "bureau"))
        assert r.status_code == 201, r.text
    late = coverage(api, CX_SUBSIDISED_LATE, on="2021-06-01")
    assert (late["status"], late["individual_payable"], late["subsidy"]["amount"]) == ("paid", "0.00", "280.00")
    assert late["coverage_status"] == "undetermined" and late["covered_on"] is None
    assert "subsidy granted on 2021-03-15, after the window" in late["undetermined_because"]
    in_time = coverage(api, CX_SUBSIDISED_IN_TIME, on="2021-06-01")
    assert (in_time["coverage_status"], in_time["benefit_start"], in_time["covered_on"]) == ("covered", "2021-01-01", True)
