"""Benefit-period rules of each notice, at the edges (SPEC: Collection windows and Decisions 1-3, 8, 9)."""

from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.dates import CHINA, china_date
from domain.errors import RefusedByRule
from domain.policy import POLICY_DIR, load_policy_file, policy_by_id
from domain.rules import benefit_period, check_payment_date


def start_end(policy_id, paid, cohort="resident", born=date(1980, 5, 5), enrolled=None, hukou=None):
    b = benefit_period(
        policy_by_id(policy_id) if isinstance(policy_id, str) else policy_id,
        cohort=cohort,
        enrolled_on=enrolled or paid,
        fully_paid_on=paid,
        birth_date=born,
        hukou_registered_on=hukou,
    )
    return b.start, b.end, b.undetermined


@pytest.mark.parametrize("policy_id", ["500110-2021", "500114-2021"])
@pytest.mark.parametrize(
    "paid, start",
    [
        (date(2020, 10, 1), date(2021, 1, 1)),  # in the window
        (date(2020, 12, 20), date(2021, 1, 1)),  # the window's last day
        (date(2020, 12, 21), date(2021, 1, 1)),  # the day after: 1st of next month = 1 January
        (date(2021, 1, 31), date(2021, 2, 1)),
        (date(2021, 2, 28), date(2021, 3, 1)),  # end of February
        (date(2021, 3, 1), date(2021, 5, 31)),  # 满90日后: waits 03-02..05-30
        (date(2021, 10, 1), date(2021, 12, 31)),  # 10-01 + 91 days = 12-31, the last covered day
    ],
)
def test_chongqing_2021_bands(policy_id, paid, start):
    assert start_end(policy_id, paid) == (start, date(2021, 12, 31), None)


def test_chongqing_2021_too_late_for_any_coverage_in_the_year():
    assert start_end("500110-2021", date(2021, 10, 2))[:2] == (None, None)


def test_qianjiang_bands_are_marked_as_municipal_rules():
    b = benefit_period(policy_by_id("500114-2021"), cohort="resident", enrolled_on=date(2021, 3, 1),
                       fully_paid_on=date(2021, 3, 1), birth_date=date(1980, 1, 1), hukou_registered_on=None)
    assert "渝医保发〔2020〕62号" in " ".join(b.lines)


@pytest.mark.parametrize(
    "paid, start",
    [
        (date(2022, 1, 5), date(2022, 1, 1)),
        (date(2022, 2, 28), date(2022, 1, 1)),  # checked by the end of February: whole year
        (date(2022, 3, 1), date(2022, 4, 1)),
        (date(2022, 4, 30), date(2022, 5, 1)),
        (date(2022, 5, 1), date(2022, 7, 31)),  # 05-01 + 91 days
    ],
)
def test_futian_2022_bands(paid, start):
    assert start_end("500237103-2022", paid) == (start, date(2022, 12, 31), None)


def test_chaqi_window_then_undetermined():
    assert start_end("430623110-2021", date(2020, 12, 31)) == (date(2021, 1, 1), date(2021, 12, 31), None)
    start, end, undetermined = start_end("430623110-2021", date(2021, 1, 1))
    assert (start, end) == (None, None)
    assert "notice 001 has no late-payment rule" in undetermined


def test_chuxiong_window_and_refused_late_payment():
    assert start_end("532301-2021", date(2021, 2, 28))[:2] == (date(2021, 1, 1), date(2021, 12, 31))
    policy = policy_by_id("532301-2021")
    check_payment_date(policy, "resident", date(2021, 2, 28))
    with pytest.raises(RefusedByRule) as e:
        check_payment_date(policy, "resident", date(2021, 3, 1))
    assert e.value.field == "paid_at" and e.value.rule == "late_payment_refused"
    check_payment_date(policy, "newborn", date(2021, 6, 1))  # newborns are not bound by the window


@pytest.fixture
def leap_policy(tmp_path: Path):
    """Qijiang's rules moved to coverage year 2024, to see the computed end of February."""
    text = (POLICY_DIR / "500110-2021.toml").read_text(encoding="utf-8")
    text = text.replace('id = "500110-2021"', 'id = "500110-2024"').replace("year = 2021", "year = 2024")
    text = text.replace('paid_through = "2020-12-20"', 'paid_through = "2023-12-20"')
    path = tmp_path / "500110-2024.toml"
    path.write_text(text, encoding="utf-8")
    return load_policy_file(path)


def test_end_of_february_in_a_leap_year(leap_policy):
    assert start_end(leap_policy, date(2024, 2, 29))[0] == date(2024, 3, 1)  # still "by end of February"
    assert start_end(leap_policy, date(2024, 3, 1))[0] == date(2024, 5, 31)  # 03-01 + 91 days in a leap year


@pytest.mark.parametrize(
    "paid, start",
    [
        (date(2021, 4, 10), date(2021, 1, 10)),  # day 90 after birth 01-10: covered from birth
        (date(2021, 4, 11), date(2021, 7, 11)),  # day 91: the ordinary 90-day band
    ],
)
def test_chongqing_newborn_day_90_and_91(paid, start):
    assert start_end("500110-2021", paid, cohort="newborn", born=date(2021, 1, 10))[0] == start


def test_newborn_born_before_the_year_is_covered_from_1_january():
    assert start_end("500110-2021", date(2021, 1, 5), cohort="newborn", born=date(2020, 12, 1))[0] == date(2021, 1, 1)


@pytest.mark.parametrize(
    "enrolled, paid, start",
    [
        # registered within 90 days of 落户 05-01 and paid on day 86 after birth: from birth
        (date(2021, 7, 15), date(2021, 7, 15), date(2021, 4, 20)),
        # registered on day 91 after 落户, paid on day 117 after birth: from the month after payment
        (date(2021, 7, 31), date(2021, 8, 15), date(2021, 9, 1)),
    ],
)
def test_chuxiong_newborn_counts_from_household_registration(enrolled, paid, start):
    got = start_end("532301-2021", paid, cohort="newborn", born=date(2021, 4, 20), enrolled=enrolled,
                    hukou=date(2021, 5, 1))
    assert got[0] == start and got[2] is None


def test_chuxiong_newborn_named_by_both_sentences_is_undetermined():
    """Registered on day 90 after 落户 (「落户后90天内…办理参保登记」: from birth) but paid on day 117
    after birth (「出生后超过90天办理参保缴费的，自缴费次月起」): SPEC Decision 9."""
    start, _, undetermined = start_end("532301-2021", date(2021, 8, 15), cohort="newborn", born=date(2021, 4, 20),
                                       enrolled=date(2021, 7, 30), hukou=date(2021, 5, 1))
    assert start is None and "disagree" in undetermined
    assert "落户后90天内" in undetermined and "出生后超过90天" in undetermined


def test_chuxiong_newborn_without_household_registration_is_undetermined():
    assert "落户" in start_end("532301-2021", date(2021, 5, 1), cohort="newborn", born=date(2021, 4, 20))[2]


def test_newborn_rule_unspecified_is_reported_not_invented():
    start, _, undetermined = start_end("500237103-2022", date(2022, 1, 20), cohort="newborn", born=date(2022, 1, 2))
    assert start is None and "newborn rule" in undetermined


def test_student_academic_year():
    assert start_end("500114-2021", date(2020, 10, 15), cohort="student", born=date(2001, 3, 3)) == (
        date(2020, 9, 1), date(2021, 8, 31), None,
    )
    assert start_end("500110-2021", date(2021, 2, 2), cohort="student", born=date(2001, 3, 3))[:2] == (
        date(2021, 3, 1), date(2021, 8, 31),
    )


def test_not_fully_paid_means_no_coverage():
    b = benefit_period(policy_by_id("500110-2021"), cohort="resident", enrolled_on=date(2020, 11, 1),
                       fully_paid_on=None, birth_date=date(1980, 1, 1), hukou_registered_on=None)
    assert (b.start, b.end) == (None, None) and "partial payments give no coverage" in b.lines[0]


@pytest.mark.parametrize(
    "moment, day",
    [
        ("2020-12-31T23:30:00+08:00", date(2020, 12, 31)),  # late on the window's last day, China time
        ("2020-12-31T16:30:00+00:00", date(2021, 1, 1)),  # 00:30 the next day in China
        ("2020-12-31T15:59:59.999999+00:00", date(2020, 12, 31)),
        ("2020-12-31T11:30:00-05:00", date(2021, 1, 1)),
    ],
)
def test_the_day_of_a_payment_is_its_day_in_china_whatever_offset_it_was_given_in(moment, day):
    assert china_date(datetime.fromisoformat(moment)) == day
    assert china_date(datetime.fromisoformat(moment).astimezone(CHINA)) == day  # the named zone itself


@given(st.datetimes(timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=8)), CHINA,
                                               timezone(timedelta(hours=-11, minutes=-30))])))
def test_china_date_is_the_date_after_converting_to_china_time(moment):
    assert china_date(moment) == moment.astimezone(CHINA).date()
