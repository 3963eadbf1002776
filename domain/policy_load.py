"""Policies as facts of the ledger: `ledger policy load` and the admin API record a policy file as a
PolicyLoaded event, and every process serving the ledger reads them back into the policy book.

All loads share one stream, so reading every loaded version is one small query: a process reads
it when it opens the ledger, after each load it makes, and (in `ledger serve`) when the report
projection's follower meets a load in the log, as it does within its interval of a load made by
another process.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable
from datetime import date, datetime
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError, OperationalError

from domain import events as ev
from domain.actor import Actor
from domain.dates import china_date
from domain.errors import Conflict, InvalidInput
from domain.person import claim_id
from domain.policy import PolicyVersion, install_loaded, parse_policy
from domain.store import EventStore, topic_of
from domain.text import clean_text

POLICY_TOPIC = topic_of(ev.PolicyLoaded)
POLICIES = claim_id("policies")  # the stream of every PolicyLoaded


class Recorder(Protocol):
    """What a load needs of the ledger (domain/ledger.py): its store, its clock and the committer
    of its events; the ledger reads the loads back, so this module does not know it."""

    store: EventStore
    committer: Any
    clock: Callable[[], datetime]


def read_loaded(store: EventStore) -> list[PolicyVersion]:
    """Every version loaded into this ledger, in the order they were recorded."""
    return [_version(e) for e in store.events.get(POLICIES)]


def install_from(store: EventStore) -> int:
    """Put this ledger's loaded policies in force in this process; the number of loads read."""
    versions = read_loaded(store)
    install_loaded(versions)
    return len(versions)


def _version(e: ev.PolicyLoaded) -> PolicyVersion:
    return PolicyVersion(parse_policy(e.document, e.file_name), e.version, e.recorded_at, e.notice_number,
                         e.notice_date, e.actor, e.file_name, e.document)


def load_policy(ledger: Recorder, actor: Actor, document: bytes | str, *, file_name: str, notice_number: str,
                notice_date: date) -> PolicyVersion:
    """Check a policy file exactly as the shipped ones are and record it as the next version of its
    region and year. Refused with every problem named, nothing written."""
    text = document.decode("utf-8") if isinstance(document, bytes) else document
    file_name = clean_text(file_name, "file_name")
    notice_number = clean_text(notice_number, "notice_number")
    if not isinstance(notice_date, date):
        raise InvalidInput("must be the notice's date, like 2024-12-20", "notice_date", "date")
    if notice_date > china_date(ledger.clock()):
        raise InvalidInput(f"{notice_date} is in the future: give the date the notice was issued", "notice_date",
                           "date_range")
    policy = parse_policy(text, file_name)
    for _attempt in range(10):
        stored = list(ledger.store.events.get(POLICIES))
        earlier = [e for e in stored if e.policy_id == policy.id]
        if earlier and earlier[-1].document == text:
            raise Conflict(f"this file is already version {earlier[-1].version} of policy {policy.id}"
                           f" (loaded {earlier[-1].recorded_at.isoformat()} by {earlier[-1].actor})", "policy",
                           "policy_unchanged")
        moment = ledger.clock()
        e = ev.PolicyLoaded(
            originator_id=POLICIES, originator_version=len(stored) + 1, recorded_at=moment, effective_at=moment,
            actor=actor.name, role=actor.role, collection_point=actor.collection_point, policy_id=policy.id,
            version=len(earlier) + 1, notice_number=notice_number, notice_date=notice_date, file_name=file_name,
            document=text, sha256=hashlib.sha256(text.encode()).hexdigest())
        try:
            ledger.committer.commit([e])
        except (IntegrityError, OperationalError):
            time.sleep(random.uniform(0, 0.01))  # another load took the stream's next version: read again
            continue
        install_from(ledger.store)
        return _version(e)
    raise Conflict("policies kept being loaded meanwhile; nothing was written, try again", None, "concurrent_change")
