"""Target tables loaded by operators (api/target_import.py reads the files): stored as events in
the ledger's store, one stream per region and year, so who loaded which table, and when, is
audited; a report known at a past time uses the table loaded by then.
"""

from __future__ import annotations

from datetime import datetime

from domain import events as ev
from domain.person import claim_id
from domain.store import EventStore
from projections.reference import TargetRow, TargetTable, target_tables


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
