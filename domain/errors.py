"""Errors the ledger raises when it refuses a command.

Each error speaks to the person who caused it (a collection-point clerk, a bureau officer) and names
the field and the rule. The HTTP layer maps the kind to a status; the message is shown as it is.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base of every refusal. Nothing has been written when one is raised."""

    kind = "refused"

    def __init__(self, message: str, field: str | None = None, rule: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.rule = rule

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class InvalidInput(LedgerError):
    """The input itself is malformed: a bad identity number, amount, date, code (HTTP 400)."""

    kind = "invalid"


class NotFound(LedgerError):
    """No person is registered under that document (HTTP 404)."""

    kind = "not_found"


class Conflict(LedgerError):
    """The ledger's state does not allow it: not enrolled, registered differently, raced (HTTP 409)."""

    kind = "conflict"


class RefusedByRule(LedgerError):
    """Well-formed but a policy rule refuses it: over-payment, late payment, unknown policy (HTTP 422)."""

    kind = "rule"


class Forbidden(LedgerError):
    """The caller's role or regions do not allow it (HTTP 403). About a person outside the caller's
    regions it says nothing: not their name, region or anything else recorded."""

    kind = "forbidden"


OUTSIDE_SCOPE = "this person is not within the regions of your token; nothing was written"
