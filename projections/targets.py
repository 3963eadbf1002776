"""Target tables loaded by operators (api/target_import.py reads the files): stored as events in
the ledger's store, one stream per region and year, so who loaded which table, and when, is
audited; a report known at a past time uses the table loaded by then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from domain import events as ev
from domain.person import claim_id
from domain.store import EventStore
from projections.reference import TargetRow, TargetTable, known_name, target_tables


def load(store: EventStore, table: ev.TargetTableLoaded, actor: str = "cli") -> ev.TargetTableLoaded:
    """Append the table as the next version of its region-and-year stream."""
    version = len(list(store.events.get(table.originator_id))) + 1
    stored = ev.TargetTableLoaded(**{**{f: getattr(table, f) for f in table.__struct_fields__},
                                     "originator_version": version, "actor": actor})
    store.events.put([stored])
    return stored


def find(store: EventStore, region: str, year: int, known_at: datetime | None = None) -> TargetTable | None:
    """The table a report uses: the latest loaded by `known_at`, else the one shipped with the product."""
    loaded = [e for e in store.events.get(claim_id("targets", region, str(year)))
              if known_at is None or e.recorded_at <= known_at]
    if loaded:
        t = loaded[-1]
        return TargetTable(region, year, [TargetRow(r.code, r.name, r.population, r.target) for r in t.rows],
                           list(t.warnings))
    return target_tables().get((region, year))


def village_names(store: EventStore, year: int, known_at: datetime | None = None) -> Callable[[str], str]:
    """A village's name as a report prints it: from the target table loaded for its township or
    county (the bureau's own list of 村（社区）), else from the tables and region list shipped with
    the product; empty where nobody has given it a name, never the code again."""
    tables: dict[str, dict[str, str]] = {}

    def names_under(parent: str) -> dict[str, str]:
        if parent not in tables:
            table = find(store, parent, year, known_at)
            tables[parent] = {r.code: r.name for r in table.rows} if table else {}
        return tables[parent]

    def name_of(code: str) -> str:
        for parent in (code[:9], code[:6]):
            name = names_under(parent).get(code)
            if name:
                return name
        return known_name(code)

    return name_of
