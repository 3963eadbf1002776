"""The payment writer (api/writer.py): many requests' payments decided on one thread and committed
together, none answered before it is durable; and a payment request refused by validation costs
no database round trip."""

from __future__ import annotations

import asyncio
from contextlib import contextmanager
from datetime import date, datetime

from api.writer import Writer
from conftest import CLERK, make_id
from domain.dates import CHINA
from domain.errors import RefusedByRule


def _enrolled(ledger, born=date(1980, 5, 1)) -> str:
    number = make_id(born)
    ledger.register(CLERK, id_number=number, name="王芳", region="500110001001")
    ledger.enroll(CLERK, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
    return number


def _paying(ledger, number: str, key: str, amount: str = "10.00"):
    return lambda: ledger.pay(CLERK, id_number=number, year=2021, amount=amount, channel="pos", idempotency_key=key,
                              paid_at=datetime(2020, 11, 5, 9, tzinfo=CHINA), fingerprint=f"{amount}")


def test_payments_racing_for_one_person_in_one_group_all_post_once(ledger):
    """Twenty payments to one person and a refused one, queued together: the writer decides them
    on one thread, the group's shared transaction loses to the person's version, and each payment
    is decided again alone: all twenty post, once each; the refused one posts nothing."""
    number = _enrolled(ledger)
    other = _enrolled(ledger, date(1981, 6, 1))
    writer = Writer(ledger)
    transactions = []
    ledger.committer.on_batch = transactions.append

    async def main():
        return await asyncio.gather(*(writer.run(_paying(ledger, number, f"k{n}")) for n in range(20)),
                                    writer.run(_paying(ledger, other, "too-much", "9999.00")),
                                    return_exceptions=True)

    try:
        outcomes = asyncio.run(main())
    finally:
        writer.close()
    refused = outcomes.pop()
    assert isinstance(refused, RefusedByRule) and refused.field == "amount"
    assert all(not isinstance(o, BaseException) and not o.replayed for o in outcomes)
    assert len({o.payment_id for o in outcomes}) == 20
    person = ledger.current_person(number)
    assert sorted(person.enrollments[2021].payments) == sorted(o.payment_id for o in outcomes)
    assert ledger.coverage(number, 2021).paid_fen == 20 * 1000
    assert ledger.coverage(other, 2021).paid_fen == 0
    assert len(transactions) < 21  # fewer transactions than payments: some shared one


def test_a_key_sent_twice_in_one_group_posts_once(ledger):
    number = _enrolled(ledger)
    writer = Writer(ledger)

    async def main():
        return await asyncio.gather(*(writer.run(_paying(ledger, number, "same")) for _ in range(8)))

    try:
        outcomes = asyncio.run(main())
    finally:
        writer.close()
    assert len({o.payment_id for o in outcomes}) == 1
    assert sum(o.replayed for o in outcomes) == 7
    assert ledger.coverage(number, 2021).paid_fen == 1000


def test_a_payment_is_answered_only_once_it_is_committed(ledger):
    """The writer settles a request after the commit: here the commit fails, and the request hears
    of it rather than of a payment id."""
    number = _enrolled(ledger)
    writer = Writer(ledger)
    write = ledger.committer._write

    def failing(events):
        raise OSError("disk full")

    ledger.committer._write = failing
    try:
        outcome = asyncio.run(writer.run(_paying(ledger, number, "k")))
    except OSError as e:
        outcome = e
    finally:
        ledger.committer._write = write
        writer.close()
    assert isinstance(outcome, OSError)
    assert ledger.coverage(number, 2021).paid_fen == 0


@contextmanager
def _counting(datastore):
    """Counts every connection and transaction the store opens."""
    counts = {"opened": 0}
    transaction, get_connection = datastore.transaction, datastore.get_connection

    def counted(method):
        def wrapper(*args, **kwargs):
            counts["opened"] += 1
            return method(*args, **kwargs)
        return wrapper

    datastore.transaction, datastore.get_connection = counted(transaction), counted(get_connection)
    try:
        yield counts
    finally:
        datastore.transaction, datastore.get_connection = transaction, get_connection


def test_a_payment_refused_by_validation_costs_no_database_round_trip(api):
    number = _enrolled(api.ledger)
    headers = {"Authorization": f"Bearer {api.tokens['collector']}", "Idempotency-Key": "k-1"}
    good = {"id_number": number, "year": 2021, "amount": "10.00", "paid_at": "2020-11-05T09:00:00+08:00",
            "channel": "pos"}
    assert api.post("/v1/payments", json=good, headers=headers).status_code == 201  # the token is now known
    with _counting(api.ledger.store.recorder.datastore) as counts:
        for bad, field in (({**good, "amount": "10.001"}, "amount"), ({**good, "channel": "barter"}, "channel"),
                           ({**good, "year": "next"}, "year"), ({**good, "paid_at": "yesterday"}, "paid_at")):
            answer = api.post("/v1/payments", json=bad, headers={**headers, "Idempotency-Key": f"bad-{field}"})
            assert answer.status_code in (400, 422), (field, answer.text)
            assert field in answer.text
        missing = api.post("/v1/payments", json=good, headers={"Authorization": headers["Authorization"]})
        assert missing.status_code in (400, 422) and "Idempotency-Key" in missing.text
    assert counts["opened"] == 0
    # The counting sees the store's reads: an accepted payment opens at least one.
    with _counting(api.ledger.store.recorder.datastore) as counts:
        assert api.post("/v1/payments", json=good, headers={**headers, "Idempotency-Key": "k-2"}).status_code == 201
    assert counts["opened"] > 0


def test_a_payment_beside_an_open_batch_is_committed_on_its_own(ledger):
    """A bulk load (the daily file through the API) holds a batch open in its thread; a payment
    answered meanwhile in another thread is in the store when it is answered, not waiting in the
    load's transaction (which, refused, would take it down with it)."""
    import threading

    from domain.ledger import Ledger

    number = _enrolled(ledger)
    other = _enrolled(ledger, date(1981, 6, 1))
    opened, paid = threading.Event(), threading.Event()

    def load():
        with ledger.batch(size=10**9):
            ledger.pay(CLERK, id_number=other, year=2021, amount="5.00", channel="pos",
                       paid_at=datetime(2020, 11, 5, 9, tzinfo=CHINA))
            opened.set()
            paid.wait(10)

    loader = threading.Thread(target=load)
    loader.start()
    opened.wait(10)
    try:
        _paying(ledger, number, "beside")()
        fresh = Ledger(env=ledger.env)
        try:
            assert fresh.coverage(number, 2021).paid_fen == 1000  # durable when answered
            assert fresh.coverage(other, 2021).paid_fen == 0  # the load's batch not yet committed
        finally:
            fresh.close()
    finally:
        paid.set()
        loader.join(10)
    assert ledger.coverage(other, 2021).paid_fen == 500


def test_payments_decided_together_read_their_streams_in_one_query_ahead(ledger):
    """The streams of the payments waiting are read ahead in one query; deciding them then reads
    nothing more, and they commit as read."""
    numbers = [_enrolled(ledger, date(1980, 5, 1 + n)) for n in range(5)]
    streams = [s for n, number in enumerate(numbers)
               for s in ledger.payment_streams(CLERK, number, "resident_id", f"k{n}", None)]
    with ledger.deciding_only(read_ahead=streams) as decided:
        with _counting(ledger.store.recorder.datastore) as counts:
            results = [_paying(ledger, number, f"k{n}")() for n, number in enumerate(numbers)]
    assert counts["opened"] == 0
    assert ledger.committer.commit_each(decided) == [None] * 5
    assert [ledger.coverage(number, 2021).paid_fen for number in numbers] == [1000] * 5
    assert all(not r.replayed for r in results)


def test_the_writer_outlives_a_request_whose_loop_has_gone(ledger):
    """An answer that cannot be handed back (its event loop closed meanwhile) does not stop the
    writer: the next payment is decided and answered."""
    number = _enrolled(ledger)
    writer = Writer(ledger)
    gone = asyncio.new_event_loop()
    future = gone.create_future()
    gone.close()
    writer._start()
    writer._queue.put((_paying(ledger, number, "k-gone"), (), future, gone))
    try:
        answer = asyncio.run(asyncio.wait_for(writer.run(_paying(ledger, number, "k-next")), 30))
    finally:
        writer.close()
    assert not answer.replayed
    assert ledger.coverage(number, 2021).paid_fen == 2000  # both committed; only the first could not be told
