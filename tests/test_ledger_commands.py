"""The rules through the ledger's commands: what a collection point and the bureau actually do."""

from datetime import date, datetime

import pytest

from conftest import BUREAU, CLERK, make_id
from domain.dates import CHINA
from domain.errors import Conflict, RefusedByRule

QIJIANG_VILLAGE = "500110001001"
FUTIAN_VILLAGE = "500237103201"
CHUXIONG_VILLAGE = "532301101001"


def at(y, m, d, h=10):
    return datetime(y, m, d, h, tzinfo=CHINA)


def person(ledger, region=QIJIANG_VILLAGE, born=date(1970, 3, 3), **extra):
    idn = make_id(born)
    ledger.register(CLERK, id_number=idn, name="李四", region=region, **extra)
    return idn


def certify(ledger, idn, category, on):
    ledger.change_identity(BUREAU, id_number=idn, category=category, action="certify", effective_on=on)


def pay(ledger, idn, amount, when, year=2021, **kw):
    return ledger.pay(CLERK, id_number=idn, year=year, amount=amount, paid_at=when, channel=kw.pop("channel", "wechat"), **kw)


def test_split_payments_straddling_the_window_end(sqlite_ledger):
    idn = person(sqlite_ledger)
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 12, 1))
    pay(sqlite_ledger, idn, "100.00", at(2020, 12, 15))
    v = sqlite_ledger.coverage(idn, 2021)
    assert (v.status, v.paid_fen, v.outstanding_fen, v.benefit_start) == ("partially_paid", 10000, 18000, None)
    pay(sqlite_ledger, idn, "180.00", at(2021, 1, 10))
    v = sqlite_ledger.coverage(idn, 2021)
    assert (v.status, v.fully_paid_on, v.benefit_start) == ("paid", date(2021, 1, 10), date(2021, 2, 1))


def test_split_payments_straddling_the_end_of_february(sqlite_ledger):
    idn = person(sqlite_ledger)
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2021, 2, 1))
    pay(sqlite_ledger, idn, "200", at(2021, 2, 20))
    pay(sqlite_ledger, idn, "80", at(2021, 3, 2))
    v = sqlite_ledger.coverage(idn, 2021)
    assert (v.fully_paid_on, v.benefit_start) == (date(2021, 3, 2), date(2021, 6, 1))
    # As of 2021-02-28 the same person was only partially paid.
    assert sqlite_ledger.coverage(idn, 2021, as_of=date(2021, 2, 28)).status == "partially_paid"


def test_payment_made_late_at_night_counts_on_its_china_day(sqlite_ledger):
    idn = person(sqlite_ledger)
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 12, 1))
    # 2020-12-20 23:30 in China is 15:30 UTC: still the window's last day.
    pay(sqlite_ledger, idn, "280", datetime(2020, 12, 20, 23, 30, tzinfo=CHINA))
    assert sqlite_ledger.coverage(idn, 2021).benefit_start == date(2021, 1, 1)


def test_identity_certified_before_enrollment_is_granted_at_enrollment(sqlite_ledger):
    idn = person(sqlite_ledger)
    certify(sqlite_ledger, idn, "未脱贫户", date(2020, 1, 1))
    certify(sqlite_ledger, idn, "独生女父母", date(2020, 6, 1))
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 20))
    v = sqlite_ledger.coverage(idn, 2021)
    assert (v.subsidy.category, v.subsidy.amount_fen, v.subsidy.granted_on) == ("fp_only_child_parent", 22400, date(2020, 11, 20))
    assert v.payable_fen == 5600


def test_identity_certified_after_enrollment_before_payment_is_granted_then(sqlite_ledger):
    idn = person(sqlite_ledger)
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 20))
    assert sqlite_ledger.coverage(idn, 2021).subsidy is None
    certify(sqlite_ledger, idn, "dibao", date(2020, 12, 1))
    v = sqlite_ledger.coverage(idn, 2021)
    # 100% subsidy: fully paid on the grant day, inside the window.
    assert (v.subsidy.amount_fen, v.status, v.fully_paid_on, v.benefit_start) == (28000, "paid", date(2020, 12, 1), date(2021, 1, 1))


def test_identity_change_after_grant_pays_no_difference_and_says_why(sqlite_ledger):
    idn = person(sqlite_ledger, region=FUTIAN_VILLAGE)
    certify(sqlite_ledger, idn, "disabled_3_4", date(2021, 1, 1))
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2022, tier=1, enrolled_on=date(2021, 12, 22))
    certify(sqlite_ledger, idn, "dibao", date(2022, 1, 5))
    v = sqlite_ledger.coverage(idn, 2022)
    assert (v.subsidy.category, v.subsidy.amount_fen, v.payable_fen) == ("disabled_3_4", 8000, 24000)
    line = next(line for line in v.explanation if "dibao" in line)
    assert "after the subsidy was granted on 2021-12-22" in line and "288.00" in line and "no difference" in line


def test_identity_ended_after_grant_is_not_clawed_back(sqlite_ledger):
    idn = person(sqlite_ledger)
    certify(sqlite_ledger, idn, "dibao", date(2020, 1, 1))
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 20))
    sqlite_ledger.change_identity(BUREAU, id_number=idn, category="dibao", action="end", effective_on=date(2021, 2, 1))
    v = sqlite_ledger.coverage(idn, 2021)
    assert v.subsidy.amount_fen == 28000 and any("not clawed back" in line for line in v.explanation)


def test_category_after_first_payment_is_granted_and_the_excess_refunded_in_qijiang(sqlite_ledger):
    """Qijiang pays the difference (Chongqing practice): 低保 certified after 100.00 was paid gives
    280.00, nothing is owed and the 100.00 is refunded."""
    idn = person(sqlite_ledger)
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 20))
    pay(sqlite_ledger, idn, "100", at(2020, 11, 21))
    certify(sqlite_ledger, idn, "dibao", date(2020, 12, 1))
    v = sqlite_ledger.coverage(idn, 2021)
    assert (v.subsidy.amount_fen, v.outstanding_fen, v.refund_fen, v.status) == (28000, 0, 10000, "paid")
    assert any("refunded, the difference" in line for line in v.explanation)


def test_winner_flips_with_the_tier_through_enrollment(sqlite_ledger):
    idn = person(sqlite_ledger, region=FUTIAN_VILLAGE)
    certify(sqlite_ledger, idn, "dibao", date(2021, 1, 1))
    certify(sqlite_ledger, idn, "disabled_veteran", date(2021, 1, 1))
    _, outcome = sqlite_ledger.enroll(CLERK, id_number=idn, year=2022, tier=1, enrolled_on=date(2021, 12, 22))
    assert outcome == "created" and sqlite_ledger.coverage(idn, 2022).subsidy.category == "disabled_veteran"
    _, outcome = sqlite_ledger.enroll(CLERK, id_number=idn, year=2022, tier=2, enrolled_on=date(2021, 12, 23))
    v = sqlite_ledger.coverage(idn, 2022)
    # On tier 2 the veteran's sentence (「统一办理参加居民医保一档」) is silent, so the winner is unknown:
    # dibao's 320.00 may or may not be the highest. The payable is at most the whole 695.00.
    assert outcome == "tier_changed" and v.subsidy is None and v.payable_fen == 69500
    assert "choosing tier 2" in v.undetermined


def test_tier_change_refused_after_a_payment(sqlite_ledger):
    idn = person(sqlite_ledger)
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 20))
    assert sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1)[1] == "unchanged"
    pay(sqlite_ledger, idn, "10", at(2020, 11, 21))
    with pytest.raises(Conflict) as e:
        sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=2)
    assert e.value.field == "tier"


@pytest.mark.parametrize(
    "cancel_on, refund",
    [(date(2021, 2, 20), 8400), (date(2021, 3, 1), 0), (date(2021, 6, 1), 0)],
)
def test_refund_before_and_after_benefit_start(sqlite_ledger, cancel_on, refund):
    idn = person(sqlite_ledger)
    certify(sqlite_ledger, idn, "poverty_registered", date(2020, 1, 1))
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2021, 2, 10))
    pay(sqlite_ledger, idn, "84.00", at(2021, 2, 15))  # covered from 2021-03-01
    sqlite_ledger.cancel(BUREAU, id_number=idn, year=2021, reason="employee_insurance", effective_on=cancel_on)
    v = sqlite_ledger.coverage(idn, 2021)
    assert v.status == "cancelled" and v.refund_fen == refund
    if refund:
        assert (v.benefit_start, v.benefit_end) == (None, None)
    else:
        assert (v.benefit_start, v.benefit_end) == (date(2021, 3, 1), cancel_on)


def test_chuxiong_refunds_inside_its_window_only(sqlite_ledger):
    """004 「在上述集中缴费期后…不得要求返还」: after the window (closes 2021-02-28) nothing is refunded;
    inside it, the national rule: refunded if the benefit period (from 2021-01-01) has not started."""
    inside, after, started = (person(sqlite_ledger, region=CHUXIONG_VILLAGE) for _ in range(3))
    for idn in (inside, after, started):
        sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 10, 1))
        pay(sqlite_ledger, idn, "280", at(2020, 10, 1))
    sqlite_ledger.cancel(BUREAU, id_number=inside, year=2021, reason="death", effective_on=date(2020, 11, 1))
    sqlite_ledger.cancel(BUREAU, id_number=started, year=2021, reason="death", effective_on=date(2021, 2, 1))
    sqlite_ledger.cancel(BUREAU, id_number=after, year=2021, reason="death", effective_on=date(2021, 3, 1))
    assert sqlite_ledger.coverage(inside, 2021).refund_fen == 28000
    assert sqlite_ledger.coverage(started, 2021).refund_fen == 0
    v = sqlite_ledger.coverage(after, 2021)
    assert v.refund_fen == 0 and "after the collection window closed on 2021-02-28" in v.explanation[-1]


def test_chuxiong_late_payment_refused_and_nothing_written(sqlite_ledger):
    idn = person(sqlite_ledger, region=CHUXIONG_VILLAGE)
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 10, 1))
    before = list(sqlite_ledger.events_of(idn)[1])
    with pytest.raises(RefusedByRule) as e:
        pay(sqlite_ledger, idn, "280", at(2021, 3, 1))
    assert e.value.rule == "late_payment_refused"
    assert list(sqlite_ledger.events_of(idn)[1]) == before


@pytest.mark.parametrize("father_paid, certified, outcome", [
    (True, True, "waived"), (False, True, "undetermined"), (True, False, "undetermined")])
def test_chuxiong_newborn_of_two_paid_parents_and_a_certified_birth_pays_nothing(sqlite_ledger, father_paid,
                                                                                 certified, outcome):
    """004 一（三）「父母双方均已参加城乡居民医疗保险并符合计划生育政策规定的新生儿，出生当年不用缴费」: both parents
    enrolled and paid, and the birth certified as complying: nothing payable. A parent enrolled but
    unpaid, or compliance not certified: the waiver is undetermined, named; the baby may pay."""
    mother = person(sqlite_ledger, region=CHUXIONG_VILLAGE, born=date(1995, 1, 1))
    father = person(sqlite_ledger, region=CHUXIONG_VILLAGE, born=date(1994, 1, 1))
    for parent in (mother, father):
        sqlite_ledger.enroll(CLERK, id_number=parent, year=2021, tier=1, enrolled_on=date(2020, 10, 1))
    pay(sqlite_ledger, mother, "280", at(2020, 10, 2))
    if father_paid:
        pay(sqlite_ledger, father, "280", at(2020, 10, 2))
    baby = person(sqlite_ledger, region=CHUXIONG_VILLAGE, born=date(2021, 4, 20),
                  hukou_registered_on=date(2021, 5, 1), mother_id_number=mother, father_id_number=father)
    if certified:
        sqlite_ledger.change_identity(BUREAU, id_number=baby, category="符合计划生育政策规定的新生儿", action="certify",
                                      effective_on=date(2021, 4, 20), department="市卫生健康局")
    sqlite_ledger.enroll(CLERK, id_number=baby, year=2021, tier=1, cohort="newborn", enrolled_on=date(2021, 6, 1))
    v = sqlite_ledger.coverage(baby, 2021)
    if outcome == "waived":
        assert (v.payable_fen, v.status, v.benefit_start) == (0, "paid", date(2021, 4, 20))
    else:
        assert (v.payable_fen, v.status, v.coverage_status()) == (28000, "enrolled", "undetermined")
        assert ("has not fully paid" if not father_paid else "not certified") in v.undetermined


def test_chuxiong_newborn_with_one_enrolled_parent_pays_and_may_pay_late(sqlite_ledger):
    mother = person(sqlite_ledger, region=CHUXIONG_VILLAGE, born=date(1995, 1, 1))
    father = person(sqlite_ledger, region=CHUXIONG_VILLAGE, born=date(1994, 1, 1))
    sqlite_ledger.enroll(CLERK, id_number=mother, year=2021, tier=1, enrolled_on=date(2020, 10, 1))
    baby = person(sqlite_ledger, region=CHUXIONG_VILLAGE, born=date(2021, 4, 20),
                  hukou_registered_on=date(2021, 5, 1), mother_id_number=mother, father_id_number=father)
    sqlite_ledger.enroll(CLERK, id_number=baby, year=2021, tier=1, cohort="newborn", enrolled_on=date(2021, 6, 1))
    pay(sqlite_ledger, baby, "280", at(2021, 6, 2))  # after the window: newborns are exempt
    assert sqlite_ledger.coverage(baby, 2021).benefit_start == date(2021, 4, 20)


def test_as_known_at_a_past_moment(sqlite_ledger, clock):
    idn = person(sqlite_ledger)
    sqlite_ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 20))
    result = pay(sqlite_ledger, idn, "280", at(2020, 11, 21))
    before_void = clock.advance(hours=1)
    clock.advance(hours=1)
    sqlite_ledger.void_payment(BUREAU, id_number=idn, year=2021, payment_id=result.payment_id, reason="posted to the wrong person")
    assert sqlite_ledger.coverage(idn, 2021, known_at=before_void).status == "paid"
    now = sqlite_ledger.coverage(idn, 2021)
    assert now.status == "enrolled" and any("voided" in line for line in now.explanation)


@pytest.mark.parametrize("rule, expected", [("none", 14000), ("refund", 28000), ("unspecified", 14000)])
def test_the_regions_difference_rule_decides_whether_a_later_category_tops_up(sqlite_ledger, monkeypatch, rule,
                                                                               expected):
    """Qijiang: 巩固脱贫户 50% (140.00) granted at enrollment; 低保 (100%, 280.00) certified later, for
    one person before anything is paid, for another after a first payment. 不再进行差额资助 ("none")
    or a notice that is silent ("unspecified"): 140.00 stays. A region that pays the difference
    ("refund"): 280.00 for both, and the one who paid gets the 10.00 back."""
    import msgspec

    from domain.policy import _shipped_by_id, policy_by_id

    monkeypatch.setitem(_shipped_by_id(), "500110-2021",
                        msgspec.structs.replace(policy_by_id("500110-2021"), difference_after_grant=rule))
    idn, paid_first = person(sqlite_ledger), person(sqlite_ledger)
    for who in (idn, paid_first):
        sqlite_ledger.change_identity(BUREAU, id_number=who, category="poverty_consolidated", action="certify",
                                      effective_on=date(2020, 1, 1))
        sqlite_ledger.enroll(CLERK, id_number=who, year=2021, tier=1, enrolled_on=date(2020, 11, 5))
    pay(sqlite_ledger, paid_first, "10", at(2020, 11, 6))
    for who in (idn, paid_first):
        sqlite_ledger.change_identity(BUREAU, id_number=who, category="dibao", action="certify",
                                      effective_on=date(2020, 11, 10))
    assert sqlite_ledger.coverage(idn, 2021).subsidy.amount_fen == expected
    view = sqlite_ledger.coverage(paid_first, 2021)
    assert view.subsidy.amount_fen == expected
    assert (view.status, view.refund_fen) == (("paid", 1000) if rule == "refund" else ("partially_paid", 0))
    if rule != "refund":
        wording = "no difference is paid" if rule == "none" else "the difference is undetermined"
        assert any(wording in line for line in view.explanation), view.explanation
