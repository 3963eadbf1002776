"""The access audit (等保): who read what, for auditors (auditor, admin), scoped to their regions."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api import problems
from api.http.deps import Who, allow
from api.schemas import Moment

router = APIRouter()
responses = problems.PROBLEM_RESPONSES


@router.get("/v1/audit/reads", tags=["reads"], responses={s: responses[s] for s in (403,)})
def reads(request: Request, who: Who, since: Moment | None = None, until: Moment | None = None,
          token: Annotated[str | None, Query(max_length=64, description="a token's name")] = None,
          limit: Annotated[int, Query(ge=1, le=10_000)] = 1000) -> dict[str, Any]:
    """Every read of a person's data (coverage, history, the person page) and every report served,
    newest first: when, by which token and role, what was asked (identity numbers masked), from
    which address. A token limited to regions sees the reads within them."""
    allow(who, ("auditor", "admin"), "read the access audit")
    rows = request.app.state.read_audit.reads(who.regions, since, until, token, limit)
    return {"reads": rows}
