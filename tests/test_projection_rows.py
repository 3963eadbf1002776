"""A person's rows computed for a stream in order (projections/rows.py, _rows_in_order) are the
rows the general computation gives: for random histories, and for the shapes the shortcut
distinguishes (a later day, the same day, a fold that brings back earlier facts)."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pytest
from hypothesis import HealthCheck, given, settings

import projections.rows as rows_module
from conftest import BUREAU, CLERK, Clock, make_id
from domain.dates import CHINA
from domain.ledger import Ledger
from domain.person import person_id
from projections.rows import person_rows
from test_projection_properties import _all_events, history, record


def _streams(ledger: Ledger) -> dict:
    streams: dict = {}
    for e in _all_events(ledger):
        streams.setdefault(e.originator_id, []).append(e)
    return streams


def _same_rows(pid, events) -> bool:
    return Counter(person_rows(pid, events)) == Counter(person_rows(pid, events, any_order=True))


@pytest.fixture
def ledger():
    clock = Clock()
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}, clock=clock)
    yield ledger, clock
    ledger.close()


@pytest.fixture
def in_order_calls(monkeypatch):
    calls = []
    real = rows_module._rows_in_order

    def counting(*args):
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(rows_module, "_rows_in_order", counting)
    return calls


def _person(ledger: Ledger, clock: Clock, *steps) -> tuple:
    """A person registered, then each step (given the id number) five minutes after the one before:
    their id and events."""
    number = make_id(date(1980, 1, 1))
    ledger.register(CLERK, id_number=number, name="张三", region="500114001001")
    for step in steps:
        clock.advance(minutes=5)
        step(ledger, number)
    pid = person_id("resident_id", number)
    return pid, _streams(ledger)[pid]


def _enroll(ledger: Ledger, number: str) -> None:
    ledger.enroll(CLERK, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 12, 1))


def _pay(day: date):
    def pay(ledger: Ledger, number: str) -> None:
        fen = ledger.coverage(number, 2021).outstanding_fen
        ledger.pay(CLERK, id_number=number, year=2021, amount=f"{fen // 100}.{fen % 100:02d}",
                   paid_at=datetime(day.year, day.month, day.day, 10, tzinfo=CHINA), channel="wechat")
    return pay


def _identity(action: str, category: str, day: date):
    def change(ledger: Ledger, number: str) -> None:
        ledger.change_identity(BUREAU, id_number=number, category=category, action=action, effective_on=day)
    return change


@pytest.mark.parametrize("paid_on", [date(2020, 12, 20), date(2020, 12, 1)], ids=["later day", "same day"])
def test_enrolled_then_paid_in_order_gives_the_general_rows(ledger, in_order_calls, paid_on):
    pid, events = _person(*ledger, _enroll, _pay(paid_on))
    assert _same_rows(pid, events)
    assert len(in_order_calls) == 1  # the shortcut answered (the general computation was asked for)
    # Enrolled, then paid: the enrolled-only row is believed until the payment is recorded.
    assert len(person_rows(pid, events)) == (4 if paid_on > date(2020, 12, 1) else 3)


def test_a_subsidised_enrollment_paid_on_its_day_gives_the_general_rows(ledger, in_order_calls):
    """Certified first: the assisted row's span runs on through the segment whose fold the subsidy
    (granted with the enrollment) and the payment, each on the enrollment's day, replace in turn."""
    pid, events = _person(*ledger, _identity("certify", "disabled_1_2", date(2020, 10, 1)), _enroll,
                          _pay(date(2020, 12, 1)))
    assert _same_rows(pid, events)
    assert len(in_order_calls) == 1


def test_an_identity_certified_then_ended_on_later_days_gives_the_general_rows(ledger, in_order_calls):
    """The assisted row goes and its facts are folded again unchanged for another segment."""
    pid, events = _person(*ledger, *(_identity(action, "dibao", day) for action, day in (
        ("certify", date(2020, 10, 1)), ("end", date(2020, 11, 1)), ("certify", date(2020, 12, 1)))))
    assert _same_rows(pid, events)
    assert in_order_calls


def test_a_back_dated_event_takes_the_general_computation(ledger, in_order_calls):
    # Certified from a day before the enrollment that was recorded earlier.
    pid, events = _person(*ledger, _enroll, _identity("certify", "dibao", date(2020, 10, 1)))
    assert person_rows(pid, events)
    assert not in_order_calls


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(history)
def test_rows_in_order_equal_the_general_rows_for_random_histories(h):
    clock = Clock()
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": ":memory:"}, clock=clock)
    try:
        record(ledger, clock, *h)
        for pid, events in _streams(ledger).items():
            assert _same_rows(pid, events), pid
    finally:
        ledger.close()
