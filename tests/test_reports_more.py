"""Subsidies by funder, collections by channel, the unenrolled assisted: through HTTP, as of a date
and as known at a time, on a small history whose answers are known."""

import csv
import io

from test_api import assert_problem, enroll, h, pay, register

VILLAGE = "500237103201"  # Futian 水口村, 2022


def report(api, kind, **params):
    return api.get(f"/v1/reports/{kind}", params={"region": "500237103", "year": 2022, **params}, headers=h(api, "auditor"))


def certify(api, idn, category, on):
    api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
             json={"category": category, "action": "certify", "effective_on": on})


def history(api):
    dibao, _ = register(api, region=VILLAGE)
    certify(api, dibao, "dibao", "2021-01-01")
    enroll(api, dibao, year=2022, enrolled_on="2021-12-22")  # 288.00 from medical assistance
    pay(api, dibao, key="d", year=2022, amount="32.00", paid_at="2021-12-23T09:00:00+08:00", channel="cash", receipt_no="R-1")
    veteran, _ = register(api, region=VILLAGE)
    certify(api, veteran, "disabled_veteran", "2021-01-01")
    enroll(api, veteran, year=2022, enrolled_on="2022-01-05")  # 320.00 from the veterans bureau: paid in full
    plain, _ = register(api, region=VILLAGE)
    enroll(api, plain, year=2022, enrolled_on="2021-12-22")
    pay(api, plain, key="p", year=2022, amount="320.00", paid_at="2021-12-23T15:00:00+08:00", channel="wechat")
    outreach, _ = register(api, region=VILLAGE)
    certify(api, outreach, "低保边缘户", "2021-06-01")  # assisted, never enrolled
    return dibao, veteran, plain, outreach


def test_subsidies_by_funder_and_category(api):
    history(api)
    body = report(api, "subsidies", as_of="2022-06-30").json()
    assert [(r["funder"], r["category"], r["persons"], r["amount"]) for r in body["rows"]] == [
        ("medical_assistance", "dibao", 1, "288.00"), ("veterans", "disabled_veteran", 1, "320.00"),
    ]
    assert body["rows"][1]["funder_name"] == "县退役军人事务局" and body["total"]["amount"] == "608.00"
    early = report(api, "subsidies", as_of="2021-12-31").json()  # the veteran enrolled in January
    assert [r["category"] for r in early["rows"]] == ["dibao"]


def test_collections_by_day_channel_point_with_cash_receipts(api, clock):
    _, _, plain, _ = history(api)
    known = clock.advance(minutes=1)
    clock.advance(minutes=1)
    payment = api.get(f"/v1/persons/{plain}/history", headers=h(api)).json()["events"][-1]["data"]["payment_id"]
    api.post(f"/v1/persons/{plain}/payments/{payment}/void", headers=h(api, "bureau"), json={"reason": "wrong person"})
    then = report(api, "collections", as_of="2022-06-30", known_at=known.isoformat()).json()
    assert [(r["day"], r["channel"], r["payments"], r["amount"], r["cash_receipts"]) for r in then["rows"]] == [
        ("2021-12-23", "cash", 1, "32.00", "R-1"), ("2021-12-23", "wechat", 1, "320.00", ""),
    ]
    now = report(api, "collections", as_of="2022-06-30").json()
    assert [r["channel"] for r in now["rows"]] == ["cash"] and now["total"]["amount"] == "32.00"
    assert report(api, "collections", as_of="2021-12-22").json()["rows"] == []


def test_unenrolled_assisted_by_village(api):
    dibao, veteran, plain, outreach = history(api)
    body = report(api, "unenrolled-assisted", as_of="2022-03-01").json()
    assert [(r["village"], r["village_name"], r["id_number"]) for r in body["rows"]] == [
        (VILLAGE, "水口村", outreach[:6] + "********" + outreach[-4:]),
    ]
    before_enrollment = report(api, "unenrolled-assisted", as_of="2021-12-01").json()
    # Not yet enrolled either, the 低保 person and the disabled veteran are still not listed: 002's
    # 100% groups are 建卡脱贫户、监测户、边缘户、3-4级残 (低保 and 伤残军人 are subsidised, not among them).
    assert [r["id_number"] for r in before_enrollment["rows"]] == [outreach[:6] + "********" + outreach[-4:]]
    assert report(api, "enrollment", as_of="2021-12-01").json()["total"]["assisted"] == 1


def test_other_reports_as_csv_and_scoped(api):
    history(api)
    r = report(api, "subsidies", as_of="2022-06-30", format="csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["funder", "funder_name", "category", "category_name", "persons", "amount",
                       "persons_amount_undetermined"]
    assert rows[-1][-2:] == ["608.00", "0"]
    assert report(api, "collections", format="xlsx").headers["content-type"].startswith("application/vnd.openxml")
    scoped = api.get("/v1/reports/unenrolled-assisted", params={"region": "500237103", "year": 2022}, headers=h(api, "scoped"))
    assert_problem(scoped, 403, "region")


def test_a_kept_report_is_made_again_after_any_write_and_kept_per_question(api):
    """The enrollment report is kept between identical questions, but a payment, a new person or a
    correction makes the next answer new; a question about an earlier moment keeps its answer."""
    from test_api import VILLAGE as QIJIANG

    def enrollment(**params):
        r = api.get("/v1/reports/enrollment", params={"region": "500110", "year": 2021, "as_of": "2021-03-01",
                                                      **params}, headers=h(api, "auditor"))
        assert r.status_code == 200, r.text
        return r.json()["total"]

    idn, _ = register(api, region=QIJIANG)
    owed = enroll(api, idn).json()["individual_payable"]
    before = api.ledger.clock()
    first = enrollment()
    assert enrollment() == first and first["paid"] == 0
    assert pay(api, idn, amount=owed).status_code == 201
    assert enrollment()["paid"] == 1
    assert enrollment(known_at=before.isoformat())["paid"] == 0
    other, _ = register(api, region=QIJIANG)
    enroll(api, other)
    assert enrollment()["enrolled"] == 2 and enrollment(known_at=before.isoformat())["enrolled"] == 1
