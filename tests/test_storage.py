"""The event store on SQLite and PostgreSQL: round trips, claims, concurrency, history."""

import multiprocessing
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime

from conftest import BUREAU, CLERK, event_count, make_id
from domain import events as ev
from domain.dates import CHINA
from domain.ledger import AlreadyRecorded, Ledger

VILLAGE = "500110001001"


def enrolled_person(ledger, tier=1):
    idn = make_id(date(1980, 6, 6))
    ledger.register(CLERK, id_number=idn, name="赵六", region=VILLAGE)
    ledger.enroll(CLERK, id_number=idn, year=2021, tier=tier, enrolled_on=date(2020, 11, 1))
    return idn


def test_events_round_trip_as_msgspec_structs(ledger):
    idn = enrolled_person(ledger)
    pid, events = ledger.events_of(idn)
    assert [type(e) for e in events] == [ev.PersonRegistered, ev.Enrolled]
    registered = events[0]
    assert (registered.id_number, registered.actor, registered.role, registered.collection_point) == (
        idn, "clerk-01", "collector", "QJ-001",
    )
    assert registered.recorded_at.tzinfo is not None and events[1].effective_at.date() == date(2020, 11, 1)


def test_a_person_is_registered_once_and_repeats_are_confirmed(ledger):
    idn = make_id(date(1980, 6, 6))
    _, created = ledger.register(CLERK, id_number=idn, name="赵六", region=VILLAGE)
    _, again = ledger.register(CLERK, id_number=idn.lower(), name="赵六", region=VILLAGE)
    assert (created, again) == (True, False)
    assert len(ledger.events_of(idn)[1]) == 1


def test_idempotency_key_posts_once_and_replays(ledger):
    idn = enrolled_person(ledger)
    kwargs = dict(id_number=idn, year=2021, amount="50", paid_at=datetime(2020, 11, 2, 9, tzinfo=CHINA),
                  channel="pos", idempotency_key="K-1", fingerprint="body-1")
    first = ledger.pay(CLERK, **kwargs)
    second = ledger.pay(CLERK, **kwargs)
    assert (first.replayed, second.replayed, second.payment_id) == (False, True, first.payment_id)
    assert ledger.coverage(idn, 2021).paid_fen == 5000


def test_transaction_id_is_unique_across_the_ledger(ledger):
    idn = enrolled_person(ledger)
    paid = datetime(2020, 11, 2, 9, tzinfo=CHINA)
    first = ledger.pay(CLERK, id_number=idn, year=2021, amount="50", paid_at=paid, channel="tax_hall", transaction_id="T-9")
    before = event_count(ledger)
    try:
        ledger.pay(BUREAU, id_number=idn, year=2021, amount="50", paid_at=paid, channel="tax_hall", transaction_id="T-9")
    except AlreadyRecorded as e:
        assert e.payment_id == first.payment_id
    else:
        raise AssertionError("a second payment with the same transaction id was accepted")
    assert event_count(ledger) == before


def test_concurrent_payments_in_threads_are_all_recorded_once(ledger):
    idn = enrolled_person(ledger)

    def pay(n):
        return ledger.pay(CLERK, id_number=idn, year=2021, amount="10", channel="app",
                          paid_at=datetime(2020, 11, 2, 9, n, tzinfo=CHINA), idempotency_key=f"T-{n}", fingerprint=str(n))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(pay, range(20)))
    assert len({r.payment_id for r in results}) == 20
    view = ledger.coverage(idn, 2021)
    assert view.paid_fen == 20 * 1000 and len(ledger.person(idn).enrollments[2021].payments) == 20


def _pay_in_process(env, idn, key, start, results):
    try:
        ledger = Ledger(env=env)
        start.wait(timeout=30)
        r = ledger.pay(CLERK, id_number=idn, year=2021, amount="100", channel="bank",
                       paid_at=datetime(2020, 11, 3, 9, tzinfo=CHINA), idempotency_key=key, fingerprint=key)
        results.put(("ok", r.payment_id))
        ledger.close()
    except BaseException as e:  # noqa: BLE001 - reported to the test instead of hanging it
        results.put(("error", f"{type(e).__name__}: {e}"))


def test_two_processes_paying_the_same_person_at_once(ledger, store_env):
    idn = enrolled_person(ledger)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=_pay_in_process, args=(store_env, idn, key, start, results), daemon=True)
        for key in ("A", "B")
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=90) for _ in procs]
    for p in procs:
        p.join(30)
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    ids = {payment_id for _, payment_id in outcomes}
    payments = ledger.person(idn).enrollments[2021].payments
    assert len(ids) == 2 and set(payments) == ids and ledger.coverage(idn, 2021).paid_fen == 20000


def test_over_payment_race_lets_only_what_is_outstanding_through(ledger):
    idn = enrolled_person(ledger)  # 280.00 due

    def pay(n):
        try:
            return ledger.pay(CLERK, id_number=idn, year=2021, amount="100", channel="app",
                              paid_at=datetime(2020, 11, 2, 9, tzinfo=CHINA), idempotency_key=f"O-{n}", fingerprint=str(n))
        except Exception as e:  # noqa: BLE001
            return e

    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(pay, range(6)))
    assert sum(not isinstance(o, Exception) for o in outcomes) == 2  # 2 x 100 fit, the third would exceed
    assert ledger.coverage(idn, 2021).paid_fen == 20000


def test_batch_writes_many_commands_in_one_transaction(ledger):
    ids = [make_id(date(1990, 1, 1)) for _ in range(25)]
    with ledger.batch(size=10):
        for idn in ids:
            ledger.register(CLERK, id_number=idn, name="批量", region=VILLAGE)
            ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
    assert all(ledger.coverage(idn, 2021).status == "enrolled" for idn in ids)


def test_a_large_transaction_is_written_whole_in_order_or_not_at_all(ledger):
    """A transaction of many events (written by COPY on PostgreSQL) keeps the notification order
    of its events, and one taken version refuses all of it."""
    from eventsourcing.persistence import IntegrityError

    from domain.store import COPY_FROM

    ids = [make_id(date(1991, 2, 2)) for _ in range(COPY_FROM)]
    before = event_count(ledger)
    with ledger.batch(size=10**9):
        for idn in ids:
            ledger.register(CLERK, id_number=idn, name="大批", region=VILLAGE)
    stored = ledger.store.read_log(1, 10**6)
    assert len(stored) == before + COPY_FROM
    written = [ledger.store.mapper.decode(topic, state) for _, topic, state in stored[before:]]
    assert [e.id_number for e in written] == ids

    # The same registrations again, as one transaction: the first stream's version 1 is taken.
    events = [ledger.store.mapper.to_stored_event(e) for e in written]
    fresh = [make_id(date(1992, 3, 3)) for _ in range(COPY_FROM)]
    with ledger.batch(size=10**9):
        for idn in fresh:
            ledger.register(CLERK, id_number=idn, name="大批", region=VILLAGE)
        pending = [ledger.store.mapper.to_stored_event(e) for e in ledger._batch.pending]
        ledger._batch.pending = []
    try:
        ledger.store.insert_stored(pending + events[:1])
    except IntegrityError:
        pass
    else:
        raise AssertionError("a taken version was written")
    assert event_count(ledger) == before + COPY_FROM


def test_a_bulk_load_keeps_the_planner_reading_streams_by_index(ledger, monkeypatch):
    """On PostgreSQL, a load by COPY brings the table's statistics up to date as it grows, so the
    planner knows a batch's read of many streams finds a few rows each, and looks them up by index
    rather than scanning the whole table."""
    if not ledger.store.recorder.__class__.__module__.endswith("postgres"):
        return  # SQLite keeps no planner statistics to go stale
    from domain import store

    monkeypatch.setattr(store.EventStore, "_analyze_at", 1000)
    table = f"{ledger.store.recorder.datastore.schema}.{ledger.store.recorder.events_table_name}"
    ids = [make_id(date(1993, 4, 4)) for _ in range(4000)]
    with ledger.batch(size=10**9):
        for idn in ids:
            ledger.register(CLERK, id_number=idn, name="统计", region=VILLAGE)
    with ledger.store.recorder.datastore.transaction(commit=False) as c:
        c.execute(f"SELECT reltuples FROM pg_class WHERE oid = '{table}'::regclass")
        assert c.fetchone()["reltuples"] >= 1000  # analysed: before, -1 (never)
        c.execute(f"EXPLAIN SELECT * FROM {table} WHERE originator_id = ANY(%s)",
                  ([ledger._pid(i, "resident_id") for i in ids[:20]],))
        plan = " ".join(r["QUERY PLAN"] for r in c.fetchall())
    # With statistics, the planner expects about one row per stream asked for; without them it
    # expected a fixed share of the table (1.1 million of 12 million rows), and scanned all of it.
    import re

    expected = int(re.search(r"rows=(\d+)", plan).group(1))
    assert expected <= 3 * 20, plan
