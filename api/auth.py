"""Bearer tokens: roles, region scopes, collection points. Only a SHA-256 hash is ever stored.

Tokens are events in the same store (TokenIssued, TokenRevoked), so who issued or revoked which
token, and when, is part of the audit trail like everything else.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import ClassVar

from domain.errors import OUTSIDE_SCOPE, Conflict, Forbidden, InvalidInput, NotFound
from domain.events import Event
from domain.dates import now
from domain.ledger import Actor, Ledger
from domain.person import Person, claim_id
from domain.text import optional_text

ROLES = ("collector", "bureau", "auditor", "admin")
_NAME = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_REGION = re.compile(r"[0-9]{2,12}")


class TokenIssued(Event, frozen=True, kw_only=True):
    world_event: ClassVar[bool] = False
    name: str
    token_role: str
    regions: list[str]
    point: str | None
    token_hash: str


class TokenRevoked(Event, frozen=True, kw_only=True):
    world_event: ClassVar[bool] = False
    name: str


@dataclass(frozen=True)
class Caller:
    name: str
    role: str
    regions: tuple[str, ...]
    point: str | None

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role, self.point, self.regions)

    def may_touch(self, region: str) -> bool:
        return not self.regions or region.startswith(self.regions)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Verified tokens are remembered for CACHE_SECONDS: a revocation made by another process
    takes effect within that time (one made through this object, at once)."""

    CACHE_SECONDS = 5.0

    def __init__(self, ledger: Ledger):
        self.store = ledger.store
        self._cache: dict[str, tuple[Caller, float]] = {}

    def _append(self, e: Event) -> None:
        self.store.events.put([e])

    def create(self, role: str, regions: list[str], point: str | None, name: str | None, by: str = "cli") -> tuple[str, str]:
        if role not in ROLES:
            raise InvalidInput(f"must be one of {', '.join(ROLES)}", "role", "role")
        for r in regions:
            if not _REGION.fullmatch(r):
                raise InvalidInput(f"{r!r} is not a region code prefix (2 to 12 digits)", "region", "region_code")
        point = optional_text(point, "collection_point")
        name = name or f"{role}-{secrets.token_hex(3)}"
        if not _NAME.fullmatch(name):
            raise InvalidInput("use 1-64 letters, digits, '.', '_' or '-'", "name", "token_name")
        token = "lt_" + secrets.token_urlsafe(32)
        digest = _hash(token)
        moment = now()
        # The name stream's first event makes names unique; the hash stream finds the token fast.
        common = dict(recorded_at=moment, effective_at=moment, actor=by, role="admin", collection_point=None)
        issued = dict(name=name, token_role=role, regions=regions, point=point, token_hash=digest)
        from eventsourcing.persistence import IntegrityError

        try:
            self.store.events.put(
                [
                    TokenIssued(originator_id=claim_id("token-name", name), originator_version=1, **common, **issued),
                    TokenIssued(originator_id=claim_id("token", digest), originator_version=1, **common, **issued),
                ]
            )
        except IntegrityError:
            raise Conflict(f"a token named {name!r} exists already", "name", "token_name_unique") from None
        return name, token

    def _stream(self, stream_id) -> list[Event]:
        return list(self.store.events.get(stream_id))

    def revoke(self, name: str, by: str = "cli") -> None:
        named = self._stream(claim_id("token-name", name))
        if not named:
            raise NotFound(f"no token named {name!r}", "name", "token_exists")
        if any(isinstance(e, TokenRevoked) for e in named):
            return
        issued = named[0]
        moment = now()
        common = dict(recorded_at=moment, effective_at=moment, actor=by, role="admin", collection_point=None, name=name)
        hashed = self._stream(claim_id("token", issued.token_hash))
        self._cache.clear()
        self.store.events.put(
            [
                TokenRevoked(originator_id=claim_id("token-name", name), originator_version=len(named) + 1, **common),
                TokenRevoked(originator_id=claim_id("token", issued.token_hash), originator_version=len(hashed) + 1, **common),
            ]
        )

    def cached(self, token: str) -> Caller | None:
        """The token's caller if it was verified in the last CACHE_SECONDS (no database read)."""
        cached = self._cache.get(_hash(token))
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        return None

    def verify(self, token: str) -> Caller | None:
        found = self.cached(token)
        if found is not None:
            return found
        digest = _hash(token)
        caller = self.verify_hash(digest)
        if caller is None:
            self._cache.pop(digest, None)
        else:
            self._cache[digest] = (caller, time.monotonic() + self.CACHE_SECONDS)
        return caller

    def verify_hash(self, digest: str) -> Caller | None:
        """The caller of the token with this SHA-256, read from the store now (no cache): a console
        session's, whose revocation must end it at once in every process."""
        events = self._stream(claim_id("token", digest))
        if not events or any(isinstance(e, TokenRevoked) for e in events):
            return None
        t = events[0]
        return Caller(t.name, t.token_role, tuple(t.regions), t.point)

    def list(self) -> list[dict]:
        from eventsourcing.utils import get_topic

        rows: dict[str, dict] = {}
        start = 1
        topics = [get_topic(TokenIssued), get_topic(TokenRevoked)]
        while True:
            page = self.store.recorder.select_notifications(start=start, limit=1000, topics=topics)
            if not page:
                break
            for n in page:
                e = self.store.mapper.to_domain_event(n)
                if e.originator_id != claim_id("token-name", e.name):
                    continue
                if isinstance(e, TokenIssued):
                    rows[e.name] = {"name": e.name, "role": e.token_role, "regions": e.regions, "point": e.point,
                                    "created_at": e.recorded_at.isoformat(), "revoked_at": None}
                elif e.name in rows:
                    rows[e.name]["revoked_at"] = e.recorded_at.isoformat()
            start = page[-1].id + 1
        return list(rows.values())


# -- what a caller may do: the same checks for the HTTP API and the console --------------------

WRITERS = ("collector", "bureau", "admin")
BUREAU = ("bureau", "admin")
READERS = ("collector", "bureau", "auditor", "admin")
PAYABLE_READERS = ("bureau", "auditor", "admin")  # the 应征缴明细 carries full identity numbers


def allow(who: Caller, roles: tuple[str, ...], what: str) -> None:
    if who.role not in roles:
        raise Forbidden(f"a {who.role} token may not {what}", None, "role")


def in_scope(who: Caller, region: str) -> None:
    """A region the caller asked about by its code: naming it back tells them nothing new."""
    if not who.may_touch(region):
        raise Forbidden(
            f"region {region} is outside this token's regions ({', '.join(who.regions)})", "region", "region_scope"
        )


def person_readable(who: Caller, person: Person) -> None:
    """Reads of a person outside the caller's regions say nothing about them, not even where they are."""
    if not who.may_touch(person.region):
        raise Forbidden(OUTSIDE_SCOPE, "id_number", "region_scope")
