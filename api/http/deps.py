"""What every endpoint of the HTTP API needs: the caller from the bearer token, and the role and
region checks (from api.auth, shared with the console). The ledger, tokens and reports are the
app's (api/state.py), set up once by create_app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.auth import BUREAU, PAYABLE_READERS, READERS, WRITERS, Caller, allow, in_scope, person_readable
from api.state import ledger_of, reports_of, tokens_of
from domain.errors import LedgerError
from domain.ledger import Ledger
from projections.service import Reports


class Unauthenticated(LedgerError):
    kind = "unauthenticated"


_bearer = HTTPBearer(auto_error=False, description="a token from `ledger token create`")


# The dependencies are async: FastAPI runs a plain `def` dependency in its thread pool, a hand-off
# to another thread and back for each, on every request. Only a token not seen for a few seconds
# reads the store, and that read goes to the pool.
async def caller(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    if credentials is None:
        raise Unauthenticated("send Authorization: Bearer <token>", "Authorization", "token_required")
    tokens = tokens_of(request)
    found = tokens.cached(credentials.credentials) or await run_in_threadpool(tokens.verify, credentials.credentials)
    if found is None:
        raise Unauthenticated("the token is unknown or revoked", "Authorization", "token_valid")
    return found


async def _ledger(request: Request) -> Ledger:
    return ledger_of(request)


async def _reports(request: Request) -> Reports:
    return reports_of(request)


Who = Annotated[Caller, Depends(caller)]
TheLedger = Annotated[Ledger, Depends(_ledger)]
TheReports = Annotated[Reports, Depends(_reports)]


__all__ = ["BUREAU", "PAYABLE_READERS", "READERS", "WRITERS", "Who", "TheLedger", "TheReports", "allow", "in_scope",
           "person_readable"]
