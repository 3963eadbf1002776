"""A person's answers as every edge shows them: the registration, and the history rows."""

from __future__ import annotations

from typing import Any

import msgspec

from domain.money import yuan
from domain.person import Person

_BASE_FIELDS = {"originator_id", "originator_version", "recorded_at", "effective_at", "actor", "role", "collection_point"}


def person_out(person: Person) -> dict[str, Any]:
    r = person.registration
    assert r is not None
    return {"id_number": r.id_number, "document_type": r.document_type, "name": person.name, "sex": r.sex,
            "birth_date": person.birth_date, "region": person.region}


def history_row(e: Any) -> dict[str, Any]:
    data = {}
    for key, value in msgspec.to_builtins(e).items():
        if key in _BASE_FIELDS:
            continue
        if key.endswith("_fen") and isinstance(value, int):
            data[key[:-4]] = yuan(value)
        else:
            data[key] = value
    effective = e.paid_at if hasattr(e, "paid_at") else e.effective_at
    return {"position": e.originator_version, "type": type(e).__name__, "recorded_at": e.recorded_at.isoformat(),
            "effective": effective.isoformat(), "actor": e.actor, "role": e.role,
            "collection_point": e.collection_point, "data": data}
