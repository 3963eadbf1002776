"""Cases that tell each rule from a plausible wrong one, through the API, on both backends.

Each test names the wrong rule it would catch (a percentage taken of the student price, the newborn
window measured to the enrollment day, payments summed in recording order, ...). Oracles
independent of the code: the notices' prices and dates worked by hand into literal amounts and
days; identity numbers carry literal check characters computed outside the project (GB 11643).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from conftest import event_count
from test_api import assert_problem, enroll, h, pay, register

QIANJIANG = "500114001001"
FUTIAN = "500237103201"
CHUXIONG = "532301101001"

STUDENT = "500110200505050314"
NEWBORN_LATE = "500114202101100324"
RESIDENT_QJ = "500114198004040332"
RESIDENT_QIJIANG = "500110198004040345"
FUTIAN_RESIDENT = "500237198004040359"
SUBSIDISED = "500110198004040361"
MOTHER = "532301198004040371"
FATHER = "53230119800404038X"
BABY_OF_DECEMBER = "532301202012200397"
CX_RESIDENT = "532301198004040400"
CANCELLED = "532301198004040419"
BABY = "532301202103010425"
PAID_AT_T = "500114198004040439"


def coverage(api, idn, year=2021, **params):
    r = api.get(f"/v1/persons/{idn}/coverage", params={"year": year, **params}, headers=h(api, "auditor"))
    assert r.status_code == 200, r.text
    return r.json()


def certify(api, idn, category, effective_on="2020-01-01"):
    r = api.post(f"/v1/persons/{idn}/identities", json={"category": category, "action": "certify",
                                                         "effective_on": effective_on}, headers=h(api, "bureau"))
    assert r.status_code == 201, r.text


def with_policy(monkeypatch, policy):
    """The ledger as if `policy` were shipped (added, or replacing the one of its id)."""
    import domain.policy as policy_module

    others = tuple(p for p in policy_module.all_policies() if p.id != policy.id)
    monkeypatch.setattr(policy_module, "all_policies", lambda: (*others, policy))
    monkeypatch.setitem(policy_module._shipped_by_id(), policy.id, policy)


def test_a_percentage_subsidy_is_of_the_residents_tier_not_the_student_price(api):
    """Qijiang (003): 巩固脱贫户 50% of the tier-1 standard, 280.00, is 140.00 for a student too (not 50% of
    the 250.00 student price, 125.00): the student owes 250.00 - 140.00 = 110.00."""
    register(api, id_number=STUDENT, born=None)
    certify(api, STUDENT, "poverty_consolidated")
    assert enroll(api, STUDENT, cohort="student", school="某高校").status_code == 201
    body = coverage(api, STUDENT)
    assert (body["contribution"], body["subsidy"]["amount"], body["individual_payable"]) == ("250.00", "140.00", "110.00")


def test_the_newborn_window_runs_to_the_day_of_full_payment(api):
    """Qianjiang: 「出生后90天内」 measured to the day the contribution is fully paid. Born 2021-01-10,
    enrolled 2021-02-01 (22 days), paid 2021-05-20 (130 days): not from birth; the ordinary bands
    apply, 满90日后: from 2021-08-19. Measured to the enrollment day, it would be from birth."""
    register(api, id_number=NEWBORN_LATE, region=QIANJIANG, born=None)
    assert enroll(api, NEWBORN_LATE, cohort="newborn", enrolled_on="2021-02-01").status_code == 201
    assert pay(api, NEWBORN_LATE, key="nb", amount="280.00", paid_at="2021-05-20T10:00:00+08:00").status_code == 201
    assert coverage(api, NEWBORN_LATE)["benefit_start"] == "2021-08-19"


def test_the_fully_paid_day_follows_the_payment_dates_not_their_recording(api):
    """Qianjiang, 280.00: 180.00 paid on 2021-03-10 is recorded first, then 100.00 paid on 2021-02-10
    (back-dated). By date the 280.00 is reached on 03-10 (after February: 满90日后, from 2021-06-09);
    summed in recording order it would be 02-10 (next month, from 03-01)."""
    register(api, id_number=RESIDENT_QJ, region=QIANJIANG)
    enroll(api, RESIDENT_QJ)
    assert pay(api, RESIDENT_QJ, key="a", amount="180.00", paid_at="2021-03-10T10:00:00+08:00").status_code == 201
    assert pay(api, RESIDENT_QJ, key="b", amount="100.00", paid_at="2021-02-10T10:00:00+08:00").status_code == 201
    body = coverage(api, RESIDENT_QJ)
    assert (body["fully_paid_on"], body["benefit_start"]) == ("2021-03-10", "2021-06-09")


def test_a_subsidised_person_cannot_pay_more_than_their_share(api):
    """Qijiang 巩固脱贫户 50%: the share is 140.00; 280.00 is an over-payment (422), 140.00 is taken."""
    register(api, id_number=SUBSIDISED)
    certify(api, SUBSIDISED, "poverty_consolidated")
    enroll(api, SUBSIDISED)
    before = event_count(api.ledger)
    assert_problem(pay(api, SUBSIDISED, key="over", amount="280.00"), 422, "amount")
    assert event_count(api.ledger) == before
    assert pay(api, SUBSIDISED, key="share", amount="140.00").status_code == 201


def test_the_longest_region_prefix_chooses_the_policy(api, monkeypatch):
    """With a county-wide 巫山 policy (500237) beside Futian's own (500237103), a Futian person is
    enrolled under Futian's, the longer prefix."""
    import domain.policy as policy_module

    futian = policy_module.policy_by_id("500237103-2022")
    with_policy(monkeypatch, msgspec.structs.replace(futian, id="500237-2022", region="500237"))
    register(api, id_number=FUTIAN_RESIDENT, region=FUTIAN)
    r = enroll(api, FUTIAN_RESIDENT, year=2022, enrolled_on="2021-12-25")
    assert r.status_code == 201, r.text
    assert r.json()["policy"] == "500237103-2022"


def test_no_payment_on_a_cancelled_enrollment(api):
    register(api, id_number=RESIDENT_QIJIANG)
    enroll(api, RESIDENT_QIJIANG)
    r = api.post(f"/v1/enrollments/{RESIDENT_QIJIANG}/2021/cancel", json={"reason": "moved", "effective_on": "2020-11-20"},
                 headers=h(api, "bureau"))
    assert r.status_code == 201, r.text
    before = event_count(api.ledger)
    assert_problem(pay(api, RESIDENT_QIJIANG, key="after-cancel"), 409, "year")
    assert event_count(api.ledger) == before


def test_the_tier_stays_frozen_after_every_payment_is_voided(api):
    """Payment began on tier 1; voiding it does not reopen the choice of tier (409)."""
    register(api, id_number=RESIDENT_QIJIANG)
    enroll(api, RESIDENT_QIJIANG)
    payment_id = pay(api, RESIDENT_QIJIANG, key="p").json()["payment_id"]
    r = api.post(f"/v1/persons/{RESIDENT_QIJIANG}/payments/{payment_id}/void", json={"reason": "posted in error"},
                 headers=h(api, "bureau"))
    assert r.status_code == 201, r.text
    assert_problem(enroll(api, RESIDENT_QIJIANG, tier=2), 409, "tier")


def _paid_parents(api, cancel_father: bool = False):
    for parent in (MOTHER, FATHER):
        register(api, id_number=parent, region=CHUXIONG)
        enroll(api, parent, enrolled_on="2020-10-01")
        assert pay(api, parent, key=parent, amount="280.00", paid_at="2020-10-02T10:00:00+08:00").status_code == 201
    if cancel_father:
        r = api.post(f"/v1/enrollments/{FATHER}/2021/cancel", json={"reason": "moved", "effective_on": "2021-03-01"},
                     headers=h(api, "bureau"))
        assert r.status_code == 201, r.text


def test_no_newborn_waiver_through_a_cancelled_parent(api):
    """004 waives a newborn's 280.00 when both parents are enrolled and paid; the father's enrollment
    was cancelled, so the baby owes 280.00: plainly, not "the waiver may still apply"."""
    _paid_parents(api, cancel_father=True)
    register(api, id_number=BABY, region=CHUXIONG, born=None, hukou_registered_on="2021-03-10",
             mother_id_number=MOTHER, father_id_number=FATHER)
    certify(api, BABY, "fp_compliant_birth", "2021-03-01")
    assert enroll(api, BABY, cohort="newborn", enrolled_on="2021-03-20").status_code == 201
    body = coverage(api, BABY)
    assert (body["individual_payable"], body["coverage_status"], body["undetermined_because"]) == (
        "280.00", "not_covered", None)
    assert not any("waive" in line for line in body["explanation"])


def test_no_newborn_waiver_for_a_baby_born_the_year_before(api, monkeypatch):
    """「出生当年不用缴费」: the waiver is for the year of birth. Even under a policy that takes a December
    baby as a newborn for the next year, the 2021 contribution of a baby born 2020-12-20 is owed."""
    import domain.policy as policy_module

    chuxiong = policy_module.policy_by_id("532301-2021")
    with_policy(monkeypatch, msgspec.structs.replace(
        chuxiong, newborn=msgspec.structs.replace(chuxiong.newborn, born_the_year_before=True)))
    _paid_parents(api)
    register(api, id_number=BABY_OF_DECEMBER, region=CHUXIONG, born=None, hukou_registered_on="2020-12-28",
             mother_id_number=MOTHER, father_id_number=FATHER)
    certify(api, BABY_OF_DECEMBER, "fp_compliant_birth", "2020-12-20")
    assert enroll(api, BABY_OF_DECEMBER, cohort="newborn", enrolled_on="2021-01-05").status_code == 201
    assert coverage(api, BABY_OF_DECEMBER)["individual_payable"] == "280.00"


def test_the_late_payment_check_uses_chinas_date(api):
    """Chuxiong closes on 2021-02-28 and takes no late payment. 2021-02-28T20:00-08:00 is 2021-03-01
    noon in China: refused (422, nothing written). 2021-02-28T23:00+08:00 is still in the window."""
    register(api, id_number=CX_RESIDENT, region=CHUXIONG)
    enroll(api, CX_RESIDENT, enrolled_on="2020-10-01")
    before = event_count(api.ledger)
    assert_problem(pay(api, CX_RESIDENT, key="late", amount="280.00", paid_at="2021-02-28T20:00:00-08:00"), 422, "paid_at")
    assert event_count(api.ledger) == before
    assert pay(api, CX_RESIDENT, key="in", amount="280.00", paid_at="2021-02-28T23:00:00+08:00").status_code == 201


def test_an_event_recorded_exactly_at_known_at_is_known(api):
    """known_at = the payment's own recording time includes it (the coverage answer and the report);
    one microsecond earlier, it was not yet known."""
    register(api, id_number=PAID_AT_T, region=QIANJIANG)
    enroll(api, PAID_AT_T)
    assert pay(api, PAID_AT_T, key="t", amount="280.00").status_code == 201
    events = api.get(f"/v1/persons/{PAID_AT_T}/history", headers=h(api, "auditor")).json()["events"]
    recorded = datetime.fromisoformat(next(e for e in events if e["type"] == "PaymentRecorded")["recorded_at"])
    before = (recorded - timedelta(microseconds=1)).isoformat()
    assert coverage(api, PAID_AT_T, known_at=recorded.isoformat())["status"] == "paid"
    assert coverage(api, PAID_AT_T, known_at=before)["status"] == "enrolled"

    def paid(known_at):
        r = api.get("/v1/reports/enrollment", params={"region": "500114", "year": 2021, "as_of": "2021-03-01",
                                                      "known_at": known_at}, headers=h(api, "auditor"))
        assert r.status_code == 200, r.text
        return r.json()["total"]["paid"]

    assert (paid(recorded.isoformat()), paid(before)) == (1, 0)
