"""Who the reports count as assisted (应保 at 100%): the persons of the notice's own 100% groups.

Each village answers by the policy in force for it and the year, so a report over several
counties holds each to its own notice."""

from __future__ import annotations

from functools import lru_cache

from domain.errors import LedgerError
from domain.policy import _FORGET, Targets, find_policy


@lru_cache(maxsize=65536)
def _targets(village: str, year: int) -> Targets | None:
    try:
        return find_policy(village, year).targets
    except LedgerError:
        return None


_FORGET.append(_targets.cache_clear)  # a policy version loaded: the groups may change


def is_assisted(village: str, year: int, categories: str | list[str] | set[str]) -> bool:
    """Whether categories held (a row's space-separated text, or codes) put a person of `village`
    in the notice's 100% groups for `year`. Without a policy for them, any identity category does."""
    held = categories.split() if isinstance(categories, str) else categories
    if not held:
        return False
    targets = _targets(village, year)
    return (targets or Targets()).counts_as_assisted(held)
