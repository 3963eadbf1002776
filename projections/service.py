"""The reports as the API and the CLI ask for them: caught up with the log, then read from rows."""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict
from datetime import date, datetime
from typing import Any

from domain.store import EventStore
from projections import targets
from projections.enrollment import enrollment_report
from projections.follower import Follower
from projections.queries import ViewSource
from projections.reports import REPORTS
from projections.viewstore import ViewStore, views_env


# Reports of a few dozen rows are kept once made, keyed by the question and the projection's
# position: the county page a bureau reloads all day is then read once per change of the ledger.
# Long lists (应保未保, the payable list) are made afresh each time.
KEPT_KINDS = ("enrollment", "subsidies", "collections")
KEPT_ANSWERS = 128
# Lists by village: each village named as the loaded target table names it.
NAMED_KINDS = ("unenrolled-assisted", "payable")


class Reports:
    def __init__(self, store: EventStore, env: dict[str, str]):
        self.store = store
        apart = views_env(env)
        # The ledger's own connections serve the rows where they live in its database and schema.
        shared = getattr(store.recorder, "datastore", None) if apart == views_env(env, {}) else None
        self.views = ViewStore(apart, shared=shared)
        self.follower = Follower(store, self.views, env=env)
        self._kept: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def close(self) -> None:
        self.views.close()

    def report(self, kind: str, region: str, year: int, on: date, known_at: datetime | None = None) -> dict[str, Any]:
        """One report; everything recorded before the request is in it (the projection catches
        up first, which costs nothing when a follower already keeps it current)."""
        self.follower.catch_up()
        key = (kind, region, year, on, known_at, self.views.position()) if kind in KEPT_KINDS else None
        if key is not None:
            with self._lock:
                if key in self._kept:
                    self._kept.move_to_end(key)
                    return copy.deepcopy(self._kept[key])
        answer = self._make(kind, region, year, on, known_at)
        if key is not None:
            with self._lock:
                self._kept[key] = copy.deepcopy(answer)
                while len(self._kept) > KEPT_ANSWERS:
                    self._kept.popitem(last=False)
        return answer

    def _make(self, kind: str, region: str, year: int, on: date, known_at: datetime | None) -> dict[str, Any]:
        source = ViewSource(self.views, known_at, self.store)
        if kind == "enrollment":
            return enrollment_report(source, region, year, on, targets.find(self.store, region, year, known_at))
        compute, _ = REPORTS[kind]
        if kind in NAMED_KINDS:
            return compute(source, region, year, on, targets.village_names(self.store, year, known_at))
        return compute(source, region, year, on)
