"""Policies: the versions in force and loaded, and loading a new version (admin)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool

from api import problems
from api.http.deps import READERS, TheLedger, Who, allow
from domain.errors import Forbidden, InvalidInput
from domain.policy import PolicyVersion, all_policies, loaded_versions, parse_policy
from domain.policy_load import load_policy

router = APIRouter()
responses = problems.PROBLEM_RESPONSES


def version_out(v: PolicyVersion) -> dict[str, Any]:
    return {"policy": v.policy.id, "region": v.policy.region, "year": v.policy.year, "version": v.version,
            "notice": v.policy.notice, "notice_number": v.notice_number, "notice_date": v.notice_date.isoformat(),
            "file_name": v.file_name, "loaded_by": v.actor, "loaded_at": v.recorded_at.isoformat()}


@router.get("/v1/policies", tags=["reads"], responses={s: responses[s] for s in (403,)})
def policies(who: Who) -> dict[str, Any]:
    """The policy of each region and year in force now (the latest loaded version, else the shipped
    file: version 0), and every version loaded."""
    allow(who, READERS, "read policies")
    loaded = loaded_versions()
    latest = {v.policy.id: v for v in loaded}
    return {
        "policies": [{"policy": p.id, "region": p.region, "region_name": p.region_name, "year": p.year,
                      "notice": p.notice, "version": latest[p.id].version if p.id in latest else 0,
                      "source": "loaded" if p.id in latest else "shipped"} for p in all_policies()],
        "loaded": [version_out(v) for v in loaded],
    }


@router.post("/v1/policies", status_code=201, tags=["writes"], responses={s: responses[s] for s in (403, 409, 413, 422)})
async def load(request: Request, who: Who, ledger: TheLedger,
               notice_number: Annotated[str, Query(description="the notice's 文号, e.g. 青医保发〔2024〕12号")],
               notice_date: Annotated[date, Query(description="the notice's date")],
               file_name: Annotated[str, Query(description="the file's name, for the auditor")] = "policy.toml",
               ) -> dict[str, Any]:
    """Load a policy file (admin): the body is the TOML text, checked exactly as the shipped files;
    refused with every problem named and nothing written, else recorded as the next version of its
    region and year."""
    allow(who, ("admin",), "load policies")
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput("must be UTF-8 TOML text", "policy", "policy_file") from None
    region = parse_policy(text, file_name).region
    if not who.actor.may_touch(region):
        raise Forbidden(f"policy region {region} is outside the regions of your token", "region", "region_scope")
    loaded = await run_in_threadpool(load_policy, ledger, who.actor, text, file_name=file_name,
                                     notice_number=notice_number, notice_date=notice_date)
    return version_out(loaded)
