"""Every bad input of the core issue: a clear error naming the field and the rule, nothing written.

Runs on SQLite and PostgreSQL (the `ledger` fixture)."""

from datetime import date, datetime

import pytest

from conftest import BUREAU, CLERK, event_count, make_id
from domain.dates import CHINA
from domain.errors import Conflict, InvalidInput, NotFound, RefusedByRule

VILLAGE = "500110001001"
PAID = datetime(2020, 11, 21, 10, tzinfo=CHINA)


@pytest.fixture
def enrolled(ledger):
    idn = make_id(date(1970, 1, 1))
    ledger.register(CLERK, id_number=idn, name="王五", region=VILLAGE)
    ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 20))
    return idn


def refused(ledger, error, field, rule, command, **kwargs):
    before = event_count(ledger)
    with pytest.raises(error) as e:
        command(**kwargs)
    assert e.value.field == field and e.value.rule == rule, (e.value.field, e.value.rule, str(e.value))
    assert str(e.value)  # a sentence for the clerk
    assert event_count(ledger) == before, "a refused command wrote something"
    return e.value


@pytest.mark.parametrize(
    "id_number, rule",
    [
        ("110105194912310021", "id_number_checksum"),
        ("110105194902300029", "id_number_birth_date"),
        ("1101051949123100", "id_number_length"),
    ],
)
def test_invalid_identity_number(ledger, id_number, rule):
    refused(ledger, InvalidInput, "id_number", rule, lambda **kw: ledger.register(CLERK, **kw),
            id_number=id_number, name="王五", region=VILLAGE)


def test_unknown_region(ledger):
    refused(ledger, InvalidInput, "region", "region_known", lambda **kw: ledger.register(CLERK, **kw),
            id_number=make_id(date(1970, 1, 1)), name="王五", region="999999999001")


def test_no_policy_for_region_and_year(ledger, enrolled):
    refused(ledger, RefusedByRule, "year", "policy_exists", lambda **kw: ledger.enroll(CLERK, **kw),
            id_number=enrolled, year=2023, tier=1)


def test_unknown_category(ledger, enrolled):
    refused(ledger, InvalidInput, "category", "category", lambda **kw: ledger.change_identity(BUREAU, **kw),
            id_number=enrolled, category="富豪", action="certify", effective_on=date(2020, 1, 1))


def test_tier_the_policy_lacks(ledger):
    idn = make_id(date(1970, 1, 1), area="430623")
    ledger.register(CLERK, id_number=idn, name="王五", region="430623110201")
    refused(ledger, RefusedByRule, "tier", "tier_exists", lambda **kw: ledger.enroll(CLERK, **kw),
            id_number=idn, year=2021, tier=2)  # Chaqi has a single level


@pytest.mark.parametrize("amount, rule", [("84.001", "money_two_decimals"), ("-5", "money_positive"), ("0", "money_positive"), ("abc", "money")])
def test_bad_money(ledger, enrolled, amount, rule):
    refused(ledger, InvalidInput, "amount", rule, lambda **kw: ledger.pay(CLERK, **kw),
            id_number=enrolled, year=2021, amount=amount, paid_at=PAID, channel="wechat")


def test_payment_beyond_outstanding(ledger, enrolled):
    err = refused(ledger, RefusedByRule, "amount", "over_payment", lambda **kw: ledger.pay(CLERK, **kw),
                  id_number=enrolled, year=2021, amount="280.01", paid_at=PAID, channel="wechat")
    assert "280.00" in str(err)


def test_late_payment_the_policy_refuses(ledger):
    idn = make_id(date(1970, 1, 1), area="532301")
    ledger.register(CLERK, id_number=idn, name="王五", region="532301101001")
    ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 10, 1))
    refused(ledger, RefusedByRule, "paid_at", "late_payment_refused", lambda **kw: ledger.pay(CLERK, **kw),
            id_number=idn, year=2021, amount="280", paid_at=datetime(2021, 3, 1, 9, tzinfo=CHINA), channel="bank")


def test_payment_for_a_year_not_enrolled(ledger, enrolled):
    refused(ledger, Conflict, "year", "enrolled", lambda **kw: ledger.pay(CLERK, **kw),
            id_number=enrolled, year=2022, amount="10", paid_at=PAID, channel="wechat")


def test_cancellation_for_a_year_not_enrolled(ledger, enrolled):
    refused(ledger, Conflict, "year", "enrolled", lambda **kw: ledger.cancel(BUREAU, **kw),
            id_number=enrolled, year=2022, reason="death", effective_on=date(2021, 5, 1))


def test_payment_for_an_unknown_person(ledger):
    refused(ledger, NotFound, "id_number", "person_exists", lambda **kw: ledger.pay(CLERK, **kw),
            id_number=make_id(date(1970, 1, 1)), year=2021, amount="10", paid_at=PAID, channel="wechat")


def test_cash_without_receipt_and_unknown_channel(ledger, enrolled):
    refused(ledger, InvalidInput, "receipt_no", "cash_receipt", lambda **kw: ledger.pay(CLERK, **kw),
            id_number=enrolled, year=2021, amount="10", paid_at=PAID, channel="cash")
    refused(ledger, InvalidInput, "channel", "channel", lambda **kw: ledger.pay(CLERK, **kw),
            id_number=enrolled, year=2021, amount="10", paid_at=PAID, channel="pigeon")


def test_paid_at_without_offset(ledger, enrolled):
    refused(ledger, InvalidInput, "paid_at", "datetime_offset", lambda **kw: ledger.pay(CLERK, **kw),
            id_number=enrolled, year=2021, amount="10", paid_at=datetime(2020, 11, 21, 10), channel="wechat")


def test_registration_differing_from_the_registered_one(ledger, enrolled):
    refused(ledger, Conflict, "name", "registration_differs", lambda **kw: ledger.register(CLERK, **kw),
            id_number=enrolled, name="王六", region=VILLAGE)
