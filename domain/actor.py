"""Who records a fact: the actor every command and every event names."""

from __future__ import annotations

from dataclasses import dataclass

from domain.policy import served_from


@dataclass(frozen=True)
class Actor:
    """Who records: the token's name and role, the collection point (征收点) it speaks for, and the
    region code prefixes it may write for (none: everywhere)."""

    name: str
    role: str
    collection_point: str | None = None
    regions: tuple[str, ...] = ()

    def may_touch(self, region: str) -> bool:
        return not self.regions or region.startswith(self.regions)

    def may_serve(self, region: str) -> bool:
        """Register and take payments for a person of `region`: inside the actor's regions, or
        where a policy of theirs serves a wider area (全渝通办)."""
        return self.may_touch(region) or served_from(self.regions, region) is not None
