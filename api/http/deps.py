"""What every endpoint of the HTTP API needs: the caller from the bearer token, and the role and
region checks (from api.auth, shared with the console). The ledger, tokens and reports are the
app's (api/state.py), set up once by create_app."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.auth import BUREAU, PAYABLE_READERS, READERS, WRITERS, Caller, allow, in_scope, person_readable
from api.state import ledger_of, reports_of, tokens_of
from domain.errors import LedgerError
from domain.ledger import Ledger
from projections.service import Reports


class Unauthenticated(LedgerError):
    kind = "unauthenticated"


_bearer = HTTPBearer(auto_error=False, description="a token from `ledger token create`")


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Caller:
    if credentials is None:
        raise Unauthenticated("send Authorization: Bearer <token>", "Authorization", "token_required")
    found = tokens_of(request).verify(credentials.credentials)
    if found is None:
        raise Unauthenticated("the token is unknown or revoked", "Authorization", "token_valid")
    return found


Who = Annotated[Caller, Depends(caller)]
TheLedger = Annotated[Ledger, Depends(ledger_of)]
TheReports = Annotated[Reports, Depends(reports_of)]


__all__ = ["BUREAU", "PAYABLE_READERS", "READERS", "WRITERS", "Who", "TheLedger", "TheReports", "allow", "in_scope",
           "person_readable"]
