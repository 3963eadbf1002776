"""Group commit: many writers, one transaction each round, nobody told "done" before it is."""

import threading
import time

from eventsourcing.persistence import IntegrityError

from domain.groupcommit import GroupCommit


class Store:
    """Records what was written together; refuses a key written twice (like a version taken)."""

    def __init__(self, delay: float = 0.005):
        self.keys: set = set()
        self.transactions: list[list] = []
        self.delay = delay

    def put(self, events):
        time.sleep(self.delay)  # an fsync
        if len(set(events)) != len(events) or self.keys & set(events):
            raise IntegrityError("taken")
        self.keys |= set(events)
        self.transactions.append(list(events))


def run_concurrently(group, units):
    errors, committed = {}, {}

    def worker(name, events):
        try:
            group.commit(events)
            committed[name] = set(events) <= store.keys  # written before commit() returned
        except IntegrityError as e:
            errors[name] = e

    store = group._write.__self__
    threads = [threading.Thread(target=worker, args=(n, ev)) for n, ev in units.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return errors, committed


def test_concurrent_commits_share_transactions_and_all_land():
    store = Store()
    group = GroupCommit(store.put)
    units = {n: [f"e{n}a", f"e{n}b"] for n in range(40)}
    errors, committed = run_concurrently(group, units)
    assert errors == {} and all(committed.values()) and len(committed) == 40
    assert len(store.keys) == 80
    assert len(store.transactions) < 40  # fewer transactions than commands: they were grouped


def test_a_conflicting_unit_fails_alone():
    store = Store()
    group = GroupCommit(store.put)
    units = {n: [f"e{n}"] for n in range(20)}
    units["dup"] = ["e3"]  # races unit 3 for the same key
    errors, committed = run_concurrently(group, units)
    assert len(errors) == 1 and set(errors) <= {"dup", 3}
    assert len(store.keys) == 20 and all(committed.values())


def test_a_failing_store_reaches_every_waiter():
    def broken(events):
        time.sleep(0.002)
        raise RuntimeError("disk gone")

    group = GroupCommit(broken)
    outcomes = []

    def worker():
        try:
            group.commit(["x"])
            outcomes.append("ok")
        except RuntimeError:
            outcomes.append("error")

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert outcomes == ["error"] * 10


def test_units_committed_together_land_in_one_group_and_fail_one_by_one():
    store = Store(delay=0)
    tried = []
    group = GroupCommit(lambda events: (tried.append(list(events)), store.put(events)))
    errors = group.commit_each([["a1", "a2"], ["b1"], ["a1"], ["c1"]])  # the third takes a key the first took
    assert [type(e) for e in errors] == [type(None), type(None), IntegrityError, type(None)]
    assert store.keys == {"a1", "a2", "b1", "c1"}
    assert tried[0] == ["a1", "a2", "b1", "a1", "c1"]  # tried as one transaction first
    assert store.transactions == [["a1", "a2"], ["b1"], ["c1"]]
    assert group.commit_each([[], []]) == [None, None] and len(tried) == 5  # nothing to write: no transaction
