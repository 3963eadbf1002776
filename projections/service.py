"""The reports as the API and the CLI ask for them: caught up with the log, then read from rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from domain.store import EventStore
from projections import targets
from projections.enrollment import enrollment_report
from projections.follower import Follower
from projections.queries import ViewSource
from projections.reports import REPORTS
from projections.viewstore import ViewStore, views_env


class Reports:
    def __init__(self, store: EventStore, env: dict[str, str]):
        self.store = store
        self.views = ViewStore(views_env(env), shared=getattr(store.recorder, "datastore", None))
        self.follower = Follower(store, self.views, env=env)

    def close(self) -> None:
        self.views.close()

    def report(self, kind: str, region: str, year: int, on: date, known_at: datetime | None = None) -> dict[str, Any]:
        """One report; everything recorded before the request is in it (the projection catches
        up first, which costs nothing when a follower already keeps it current)."""
        self.follower.catch_up()
        source = ViewSource(self.views, known_at, self.store)
        if kind == "enrollment":
            return enrollment_report(source, region, year, on, targets.find(self.store, region, year, known_at))
        compute, _ = REPORTS[kind]
        return compute(source, region, year, on)
