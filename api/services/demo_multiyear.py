"""`ledger demo --multi-year`: three coverage years (2024–2026) of Qingdao's 市南区 under the 2025
continuity rules, written through the command path.

The demo first loads its policies as versions (api/services/demo_policies/3702.toml, one per
year: 2024 before the continuity rules, 2025 and 2026 under them), as a bureau loads its own.
Persons carry cover from before the ledger (the national database's extract), employee-scheme
spells, years they skip (gaps), late payments and repairs (修复) of missed years, drawn with a
fixed seed: a second run replays every write and changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from domain.coverage import enrollment_view
from domain.dates import CHINA
from domain.errors import Conflict
from domain.idnumber import check_character
from domain.ledger import Actor, Ledger
from domain.money import yuan
from domain.policy import loaded_versions
from domain.policy_load import load_policy
from domain.regions import regions

YEARS = (2024, 2025, 2026)
COUNTY = "370202"
POPULATION = 200_000  # resident-scheme persons of the district the demo draws (scale 1/20: 10,000)
TEMPLATE = Path(__file__).parent / "demo_policies" / "3702.toml"
ADMIN = Actor("demo-admin", "admin")


def policy_text(year: int) -> str:
    text = TEMPLATE.read_text(encoding="utf-8").replace("{YEAR}", str(year)).replace("{PREVIOUS}", str(year - 1))
    if year < 2025:  # before 国办发〔2024〕38号: no continuity rules, and no late rule found
        text = text.split("[continuity]")[0] + "[critical_illness]" + text.split("[critical_illness]")[1]
        text = text.replace('start = "waiting_period"', 'start = "unspecified"')
    return text


def load_policies(ledger: Ledger) -> None:
    """The demo's policies, each loaded once (a second run finds them loaded)."""
    have = {v.policy.id for v in loaded_versions()}
    for year in YEARS:
        if f"3702-{year}" not in have:
            load_policy(ledger, ADMIN, policy_text(year), file_name=f"3702-{year}.toml",
                        notice_number=f"demo {year}", notice_date=date(year - 1, 8, 1))


@dataclass
class Plan:
    id_number: str
    name: str
    region: str
    birth: date
    dibao: bool = False
    prior: tuple[date, date] | None = None  # resident cover before the ledger (全民参保 extract)
    employee: tuple[date, date] | None = None  # an employee-scheme spell
    years: dict[int, datetime] = field(default_factory=dict)  # year -> when paid in full
    repairs: list[tuple[int, int]] = field(default_factory=list)  # (year paid with, year repaired)

    def employed_in(self, year: int) -> bool:
        return self.employee is not None and self.employee[0].year <= year <= self.employee[1].year


def plan(scale: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    townships = sorted(c for c, r in regions().items() if r.parent_code == COUNTY)
    used: set[str] = set()
    out = []
    for i in range(POPULATION // scale):
        born = date(1940, 1, 1) + timedelta(days=rng.randrange(365 * 65))
        while True:
            base = f"{COUNTY}{born:%Y%m%d}{rng.randrange(1000):03d}"
            number = base + check_character(base)
            if number not in used:
                used.add(number)
                break
        p = Plan(number, rng.choice("王李张刘陈杨") + rng.choice("明华建国秀英丽军"), f"{townships[i % len(townships)]}"
                 f"{i % 9 + 1:03d}", born, dibao=rng.random() < 0.04)
        if rng.random() < 0.7:
            p.prior = (date(2019, 1, 1), date(2023, 12, 31))
        if rng.random() < 0.05:
            start = date(2024, 1, 1) + timedelta(days=rng.randrange(500))
            p.employee = (start, start + timedelta(days=rng.randrange(60, 500)))
        skipper = rng.random() < 0.15  # some skip years, and skip more than once
        for year in YEARS:
            if p.employed_in(year):
                continue  # insured as an employee that year: not here
            if rng.random() < (0.5 if skipper else 0.05):
                continue  # a gap year
            late = rng.random() < 0.08
            day = (date(year, 1, 1) + timedelta(days=rng.randrange(200)) if late
                   else date(year - 1, 9, 1) + timedelta(days=rng.randrange(120)))
            p.years[year] = datetime(day.year, day.month, day.day, rng.randrange(8, 20), tzinfo=CHINA)
        if 2026 in p.years and rng.random() < 0.4:  # some repair a missed 2025 with their 2026 payment
            p.repairs = [(2026, 2025)] if 2025 not in p.years and not p.employed_in(2025) else []
        out.append(p)
    return out


def record(ledger: Ledger, p: Plan) -> None:
    clerk = Actor("demo-clerk", "collector", f"QD-{p.region[6:9]}")
    bureau = Actor("demo-bureau", "bureau", "QD-bureau")
    ledger.register(clerk, id_number=p.id_number, name=p.name, region=p.region)
    if p.dibao:
        ledger.change_identity(bureau, id_number=p.id_number, category="dibao", action="certify",
                               effective_on=date(2023, 6, 1), department="区民政局")
    for cover, scheme, source in ((p.prior, "resident", "全民参保数据库"), (p.employee, "employee", "职工医保")):
        if cover is not None:
            ledger.record_coverage_elsewhere(bureau, id_number=p.id_number, scheme=scheme, region=COUNTY,
                                             from_on=cover[0], to_on=cover[1], source=source)
    for year, paid_at in p.years.items():
        try:
            ledger.enroll(clerk, id_number=p.id_number, year=year, tier=1, enrolled_on=paid_at.date())
        except Conflict:
            continue  # cover elsewhere overlaps the year after all: 不得重复参保
        payable = enrollment_view(ledger.current_person(p.id_number), year, explain=False).outstanding_fen
        if payable:
            ledger.pay(clerk, id_number=p.id_number, year=year, amount=yuan(payable),
                       paid_at=paid_at, channel="wechat", idempotency_key=f"demo-{p.id_number}-{year}",
                       fingerprint=f"{payable}-{paid_at.isoformat()}")
    for year, missed in p.repairs:
        price = enrollment_view(ledger.current_person(p.id_number), year, explain=False).contribution_fen
        ledger.pay(clerk, id_number=p.id_number, year=year, amount=yuan(price),
                   paid_at=p.years[year], channel="wechat", repair_year=missed,
                   idempotency_key=f"demo-{p.id_number}-repair-{missed}", fingerprint=f"repair-{missed}")


def record_all(ledger: Ledger, people: list[Plan], chunk: int, progress: Any = None) -> None:
    load_policies(ledger)
    with ledger.batch(size=10**9):
        for start in range(0, len(people), chunk):
            part = people[start:start + chunk]
            ledger.prefetch([("resident_id", p.id_number) for p in part])
            for p in part:
                record(ledger, p)
            ledger.flush()
            if progress is not None:
                progress.update(len(part))
