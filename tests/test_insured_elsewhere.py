"""Insurance held elsewhere (SPEC Decision 15): the employee scheme (职工医保) or another 统筹区's resident
scheme, recorded as a fact of the person. An enrollment overlapping it is refused, naming it
(「不得重复参保」), unless a policy takes it with a warning; it is a refund ground; the person leaves the
应保未保 list. Through the API, on both backends.

Oracles independent of the code: the overlaps are worked by hand from the dates in each test, and the
identity numbers carry literal check characters computed outside the project (GB 11643 MOD 11-2).
"""

from __future__ import annotations

import msgspec
import pytest

from conftest import event_count
from test_api import assert_problem, enroll, h, pay, register

EMPLOYED = "500110198002020113"
MOVED_IN = "500110198002020121"
ASSISTED = "50011019800202013X"
ENROLLED = "500110198002020148"
ASSISTED_TOO = "500110198002020164"


def elsewhere(api, idn, role="bureau", **body):
    payload = {"scheme": "employee", "region": "500101", "from": "2020-06-01",
               "source": "全民参保数据库 extract 2021-01", **body}
    return api.post(f"/v1/persons/{idn}/prior-coverage", json=payload, headers=h(api, role))


def test_an_enrollment_overlapping_employee_cover_is_refused_naming_it(api):
    """Employee cover in 500101 from 2020-06-01, continuing: every day of 2021 overlaps it, so the
    2021 enrollment is a 409 that names the scheme, the region, the source and the notice's sentence,
    and nothing is written."""
    register(api, id_number=EMPLOYED)
    r = elsewhere(api, EMPLOYED, evidence="参保缴费凭证 No. 88")
    assert r.status_code == 201, r.text
    held = r.json()["coverage_elsewhere"]
    assert [(c["scheme"], c["region"], c["from"], c["to"], c["evidence"]) for c in held] == [
        ("employee", "500101", "2020-06-01", None, "参保缴费凭证 No. 88")]
    before = event_count(api.ledger)
    body = assert_problem(enroll(api, EMPLOYED), 409, "year")
    assert "employee scheme (职工医保) in 500101 from 2020-06-01 continuing" in body["detail"]
    assert "不得重复参保" in body["detail"] and "避免重复参加基本医疗保险" in body["detail"]
    assert "全民参保数据库 extract 2021-01" in body["detail"]
    assert event_count(api.ledger) == before
    # The same fact again changes nothing.
    assert elsewhere(api, EMPLOYED, evidence="参保缴费凭证 No. 88").status_code == 200
    assert event_count(api.ledger) == before


def test_a_cover_recorded_as_continuing_is_ended_by_recording_its_last_day(api):
    """Employee cover from 2020-06-01, continuing, refuses the 2021 enrollment; the same cover recorded
    again with its last day, 2020-12-31, restates it, and the enrollment is taken."""
    register(api, id_number=MOVED_IN)
    assert elsewhere(api, MOVED_IN).status_code == 201
    assert_problem(enroll(api, MOVED_IN), 409, "year")
    r = elsewhere(api, MOVED_IN, to="2020-12-31")
    assert r.status_code == 201, r.text
    assert [(c["from"], c["to"]) for c in r.json()["coverage_elsewhere"]] == [("2020-06-01", "2020-12-31")]
    assert enroll(api, MOVED_IN).status_code == 201


@pytest.mark.parametrize("to, enrolled_on, status", [
    ("2020-12-31", "2020-11-01", 201),  # ended before the coverage year: no overlap
    ("2021-01-01", "2020-11-01", 409),  # one day of 2021 overlaps
    ("2021-03-31", "2020-11-01", 409),  # Jan-Mar overlap
    ("2021-03-31", "2021-04-01", 201),  # enrolled after it ended: the rest of the year is free
    ("2021-03-31", "2021-03-31", 409),  # its last day is still ahead on the enrollment day
])
def test_the_overlap_is_of_the_year_still_ahead(api, to, enrolled_on, status):
    register(api, id_number=MOVED_IN)
    assert elsewhere(api, MOVED_IN, to=to).status_code == 201
    r = enroll(api, MOVED_IN, enrolled_on=enrolled_on)
    assert r.status_code == status, r.text


def test_a_policy_may_take_the_enrollment_with_a_warning(api, monkeypatch):
    """rule = "warn": the enrollment is taken, and the answer says why it should not stand."""
    import domain.policy as policy_module

    qijiang = policy_module.policy_by_id("500110-2021")
    warned = msgspec.structs.replace(qijiang, elsewhere=msgspec.structs.replace(qijiang.elsewhere, rule="warn"))
    patched = tuple(warned if p.id == qijiang.id else p for p in policy_module.all_policies())
    monkeypatch.setattr(policy_module, "all_policies", lambda: patched)
    monkeypatch.setitem(policy_module._shipped_by_id(), qijiang.id, warned)
    register(api, id_number=EMPLOYED)
    elsewhere(api, EMPLOYED)
    r = enroll(api, EMPLOYED)
    assert r.status_code == 201, r.text
    assert any(line.startswith("warning: insured elsewhere in 2021, employee scheme") for line in r.json()["explanation"])


def test_cover_found_after_enrollment_is_a_refund_ground(api):
    """Enrolled and paid in the window (benefit from 2021-01-01), then employee cover from 2020-12-01
    comes to light: the answer warns; cancelled on 2020-12-20 (before the benefit period), the 280.00
    is refunded and the refund rule names the cover."""
    register(api, id_number=ENROLLED)
    assert enroll(api, ENROLLED).status_code == 201
    assert pay(api, ENROLLED, amount="280.00", paid_at="2020-11-02T10:00:00+08:00").status_code == 201
    assert elsewhere(api, ENROLLED, **{"from": "2020-12-01"}).status_code == 201
    answer = api.get(f"/v1/persons/{ENROLLED}/coverage", params={"year": 2021}, headers=h(api, "auditor")).json()
    assert any("insured elsewhere in 2021" in line and "a ground to cancel with a refund" in line
               for line in answer["explanation"])
    r = api.post(f"/v1/enrollments/{ENROLLED}/2021/cancel", json={"reason": "employee_insurance",
                                                                   "effective_on": "2020-12-20"}, headers=h(api, "bureau"))
    assert r.status_code == 201, r.text
    assert r.json()["refund"] == "280.00"
    assert any("ground: insured elsewhere, employee scheme (职工医保) in 500101 from 2020-12-01" in line
               for line in r.json()["explanation"])


def test_an_assisted_person_insured_elsewhere_is_not_unenrolled_assisted(api):
    """Two 低保 persons, neither enrolled: the one with employee cover over 2021 leaves the 应保未保
    list (as of 2021-03-01) and the assisted count the enrollment report measures against; the other
    stays. As of 2020-05-31, before the cover began, both are listed and counted."""
    for idn in (ASSISTED, ASSISTED_TOO):
        register(api, id_number=idn)
        api.post(f"/v1/persons/{idn}/identities", json={"category": "dibao", "action": "certify",
                                                         "effective_on": "2020-01-01"}, headers=h(api, "bureau"))
    assert elsewhere(api, ASSISTED).status_code == 201

    def listed(as_of):
        r = api.get("/v1/reports/unenrolled-assisted", params={"region": "500110", "year": 2021, "as_of": as_of},
                    headers=h(api, "auditor"))
        assert r.status_code == 200, r.text
        return sorted(row["id_number"][-4:] for row in r.json()["rows"])

    assert listed("2021-03-01") == [ASSISTED_TOO[-4:]]
    assert listed("2020-05-31") == sorted([ASSISTED[-4:], ASSISTED_TOO[-4:]])

    def assisted(as_of):  # the enrollment report's denominator of the assisted rate
        r = api.get("/v1/reports/enrollment", params={"region": "500110", "year": 2021, "as_of": as_of},
                    headers=h(api, "auditor"))
        assert r.status_code == 200, r.text
        return r.json()["total"]["assisted"]

    assert (assisted("2021-03-01"), assisted("2020-05-31")) == (1, 2)


@pytest.mark.parametrize("body, field", [
    ({"scheme": "commercial"}, "scheme"),
    ({"region": "５００１０１"}, "region"),
    ({"region": "5001"}, "region"),
    ({"from": "2027-01-01"}, "from"),  # after the ledger's today (2026-01-01)
    ({"from": "1979-12-31"}, "from"),  # before the person's birth
    ({"to": "2020-05-31"}, "to"),  # ends before it begins
    ({"to": "2026-06-01"}, "to"),  # in the future: leave it out while it continues
    ({"source": "   "}, "source"),
    ({"source": "x\u202ey"}, "source"),
    ({"evidence": "a" * 201}, "evidence"),
])
def test_bad_cover_elsewhere_is_refused_naming_the_field_and_writes_nothing(api, body, field):
    register(api, id_number=EMPLOYED)
    before = event_count(api.ledger)
    r = elsewhere(api, EMPLOYED, **body)
    assert r.status_code in (400, 409, 422), r.text
    assert_problem(r, r.status_code, field)
    assert event_count(api.ledger) == before


def test_resident_cover_of_the_ledgers_own_year_is_refused(api):
    """The ledger records the 2021 Qijiang enrollment itself: 'resident cover in 500110 over 2021' is
    not cover elsewhere (a 409 naming `from`); in another 统筹区 it is, and the answer warns."""
    register(api, id_number=ENROLLED)
    enroll(api, ENROLLED)
    before = event_count(api.ledger)
    assert_problem(elsewhere(api, ENROLLED, scheme="resident", region="500110", **{"from": "2021-01-01"}), 409, "from")
    assert event_count(api.ledger) == before
    assert elsewhere(api, ENROLLED, scheme="resident", region="370202", **{"from": "2021-01-01"}).status_code == 201


def test_only_the_bureau_records_cover_elsewhere_and_only_in_its_regions(api):
    register(api, id_number=EMPLOYED)
    before = event_count(api.ledger)
    for role in ("collector", "auditor"):
        assert_problem(elsewhere(api, EMPLOYED, role=role), 403)
    other, _ = register(api, region="500114001001")
    assert_problem(elsewhere(api, other, role="scoped_bureau"), 403)
    assert event_count(api.ledger) == before + 1  # the registration only
