"""`ledger demo`: a synthetic 2021 collection season of Chongqing counties, written through the
command path: Qianjiang alone by default, or several counties in one store (a province's shape).

Qianjiang's persons per township follow its notice's household population (scale 1/20 by
default). The other counties are Chongqing's districts and counties in the order of the national
statistics bureau's division list (2023 codes, shipped in domain/data/regions.csv; their villages
in demo_data/villages_50.csv), each township's population drawn from its villages; they take
Qianjiang's notice as the demo's policy (demo_policies/50-2021.toml, loaded as a version, never a
real notice). Each county draws its persons with a seed of its own, its identity numbers begin
with its own code, so counties never collide and a county's figures are the same alone or among
others. Categories, tiers, cohorts, payment dates and partial payments are drawn with a fixed
seed, so a second run on the same database replays every write (idempotency keys) and changes
nothing.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

from domain.coverage import enrollment_view
from domain.dates import CHINA
from domain.idnumber import check_character
from domain.ledger import Actor, Ledger
from domain.policy import loaded_versions, policy_by_id
from domain.policy_load import load_policy
from domain.rules import decide_subsidy
from domain.regions import DATA_DIR, regions

YEAR = 2021
# The demo's students attend Qianjiang's own 高校 (the student price is for 在黔高校大学生 only).
DEMO_SCHOOL = "重庆旅游职业学院"
# Qianjiang states no window opening: the demo begins its season on 1 September (a demo choice).
WINDOW_OPENS = date(YEAR - 1, 9, 1)
TOWNSHIP_TABLE = DATA_DIR / "targets_qianjiang_2021.csv"
QIANJIANG = "500114"
# Qijiang carries its own 2021 notice (003), with other prices, groups and a school of its own:
# the demo's persons are drawn for Qianjiang's, so Qijiang is not among its counties.
OWN_NOTICE = {"500110"}
DEMO_POLICY = Path(__file__).parent / "demo_policies" / "50-2021.toml"
VILLAGES = Path(__file__).parent / "demo_data" / "villages_50.csv"

# Shares of the registered population holding each category (a plausible rural district;
# the notices give targets, not shares). A few hold two, so highest-applies is exercised.
CATEGORY_SHARES = {
    "dibao": 0.045,
    "tekun": 0.006,
    "orphan": 0.001,
    "disabled_1_2": 0.015,
    "youfu": 0.004,
    "special_hardship": 0.002,
    "illness_poverty": 0.003,
    "poverty_registered": 0.06,
}
CHANNELS = [("wechat", 0.34), ("alipay", 0.18), ("pos", 0.2), ("bank", 0.1), ("tax_hall", 0.08), ("app", 0.06), ("cash", 0.04)]


@dataclass
class Township:
    code: str
    name: str
    population: int
    target: int
    villages: list[str] = field(default_factory=list)


@dataclass
class PlannedPerson:
    """Everything the demo will record about one person, drawn before anything is written."""

    id_number: str
    name: str
    region: str
    birth: date
    hukou: date | None
    categories: list[tuple[str, date]] = field(default_factory=list)
    enroll_on: date | None = None
    tier: int = 1
    cohort: str = "resident"
    payments: list[tuple[str, datetime, str]] = field(default_factory=list)  # share, paid_at, channel
    late_category: tuple[str, date] | None = None


def counties() -> list[str]:
    """The demo's counties in order: Qianjiang, then Chongqing's others in the division list's order."""
    others = sorted(code for code, r in regions().items()
                    if r.level == "county" and code.startswith("50") and code != QIANJIANG and code not in OWN_NOTICE)
    return [QIANJIANG, *others]


def townships(county: str = QIANJIANG, rng: random.Random | None = None) -> list[Township]:
    """Qianjiang's from its notice's target table (12 villages each, as the demo numbers them);
    another county's from the division list, with its real villages and a drawn population
    (600 to 2,400 a village) and target (90% to 99% of it)."""
    if county == QIANJIANG:
        with open(TOWNSHIP_TABLE, encoding="utf-8-sig", newline="") as f:
            return [
                Township(r["region_code"], r["region_name"], int(r["household_population_2019"]),
                         int(r["target_2021"]), [f"{r['region_code']}{i:03d}" for i in range(1, 13)])
                for r in csv.DictReader(f)
            ]
    assert rng is not None, "another county's populations are drawn"
    found = []
    for code, r in sorted(regions().items()):
        villages = _villages().get(code)
        if r.level == "township" and r.parent_code == county and villages:
            population = sum(rng.randint(600, 2400) for _ in villages)
            found.append(Township(code, r.name, population, round(population * rng.uniform(0.90, 0.99)), villages))
    return found


@cache
def _villages() -> dict[str, list[str]]:
    """Village codes per township, for the counties other than Qianjiang."""
    by_township: dict[str, list[str]] = {}
    with open(VILLAGES, encoding="utf-8", newline="") as f:
        for r in csv.DictReader(f):
            by_township.setdefault(r["code"][:9], []).append(r["code"])
    return by_township


def load_demo_policy(ledger: Ledger) -> None:
    """The demo's policy for the counties other than Qianjiang, loaded once."""
    if any(v.policy.id == "50-2021" for v in loaded_versions()):
        return
    load_policy(ledger, Actor("demo-admin", "admin"), DEMO_POLICY.read_text(encoding="utf-8"),
                file_name=DEMO_POLICY.name, notice_number="demo 2021", notice_date=date(2020, 8, 1))


def _id_number(rng: random.Random, born: date, used: set[str], county: str = QIANJIANG) -> str:
    while True:
        base = f"{county}{born:%Y%m%d}{rng.randrange(1000):03d}"
        number = base + check_character(base)
        if number not in used:
            used.add(number)
            return number


def _day(rng: random.Random, first: date, last: date) -> date:
    return first + timedelta(days=rng.randrange((last - first).days + 1))


def _moment(rng: random.Random, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, rng.randrange(8, 20), rng.randrange(60), tzinfo=CHINA)


def plan(scale: int, seed: int, county: str = QIANJIANG) -> Iterator[PlannedPerson]:
    # Qianjiang keeps the plain seed, so its figures are those the demo has always given.
    rng = random.Random(seed if county == QIANJIANG else f"{seed}/{county}")
    used: set[str] = set()
    surnames = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
    given = "明华建国秀英丽军平芳红伟强玉兰桂珍志勇"
    channels, weights = zip(*CHANNELS)
    for t in townships(county, rng):
        count = round(t.population / scale)
        enroll_share = min(0.99, t.target / t.population * rng.uniform(0.97, 1.08))
        for i in range(count):
            roll = rng.random()
            if roll < 0.012:  # born in the coverage season: a newborn
                born = _day(rng, date(2020, 10, 1), date(2021, 9, 30))
                cohort = "newborn"
            elif roll < 0.03:
                born = _day(rng, date(1998, 1, 1), date(2002, 12, 31))
                cohort = "student"
            else:
                born = _day(rng, date(1935, 1, 1), date(2020, 9, 30))
                cohort = "resident"
            p = PlannedPerson(
                id_number=_id_number(rng, born, used, county),
                name=rng.choice(surnames) + rng.choice(given) + rng.choice(given),
                region=t.villages[i % len(t.villages)],
                birth=born,
                hukou=born + timedelta(days=rng.randrange(5, 120)) if cohort == "newborn" else None,
                cohort=cohort,
            )
            for category, share in CATEGORY_SHARES.items():
                if rng.random() < share:
                    # A category is certified from a day after birth (a newborn's, from birth).
                    p.categories.append((category, max(born, _day(rng, date(2018, 1, 1), date(2020, 8, 31)))))
            if rng.random() < enroll_share:
                _plan_payments(rng, p, channels, weights)
            yield p


def _plan_payments(rng: random.Random, p: PlannedPerson, channels: Any, weights: Any) -> None:
    p.tier = 2 if rng.random() < 0.08 else 1
    roll = rng.random()
    if p.cohort == "newborn":
        first = max(p.birth, WINDOW_OPENS)
        paid = first + timedelta(days=rng.randrange(0, 120))
    elif roll < 0.86:
        paid = _day(rng, WINDOW_OPENS, date(2020, 12, 20))
    elif roll < 0.96:
        paid = _day(rng, date(2020, 12, 21), date(2021, 2, 28))
    else:
        paid = _day(rng, date(2021, 3, 1), date(2021, 10, 31))
    paid = max(paid, p.birth)  # a baby born in the window pays once born
    # Enrolled up to ten days before paying, but not before the window opens nor before birth.
    p.enroll_on = max(paid - timedelta(days=rng.randrange(0, 10)), WINDOW_OPENS, p.birth)
    channel = rng.choices(channels, weights)[0]
    if rng.random() < 0.05:  # a partial payment first, the rest later (possibly across a cut-off)
        first_day = p.enroll_on
        p.payments.append(("part", _moment(rng, first_day), channel))
        p.payments.append(("rest", _moment(rng, max(paid, first_day)), rng.choices(channels, weights)[0]))
    elif rng.random() < 0.03:
        p.payments.append(("part", _moment(rng, paid), channel))  # never finished paying
    else:
        p.payments.append(("rest", _moment(rng, paid), channel))
    if rng.random() < 0.01:  # an identity change after the subsidy decision
        p.late_category = (rng.choice(["dibao", "tekun", "disabled_1_2"]), paid + timedelta(days=rng.randrange(1, 60)))


def record_all(ledger: Ledger, people: list[PlannedPerson], chunk: int, progress: Any = None) -> None:
    """Write `chunk` persons per transaction, their streams and claims read in one query first."""
    with ledger.batch(size=10**9):
        for start in range(0, len(people), chunk):
            part = people[start : start + chunk]
            ledger.prefetch(
                [("resident_id", p.id_number) for p in part],
                [(_point(p), f"demo-{p.id_number}-{n}") for p in part for n in range(len(p.payments))],
            )
            for p in part:
                record(ledger, p)
            ledger.flush()
            if progress is not None:
                progress.update(len(part))


def _point(p: PlannedPerson) -> str:
    """The township's service centre: Qianjiang's as the demo has always named them."""
    county = "QJ" if p.region.startswith(QIANJIANG) else p.region[:6]
    return f"{county}-{p.region[6:9]}"


def _planned_payable(ledger: Ledger, p: PlannedPerson) -> int:
    """What the person owed when the payments were planned: before a late category, whose grant a
    region that pays the difference (Qianjiang) records after them, and a second run finds."""
    person = ledger.current_person(p.id_number)
    view = enrollment_view(person, YEAR)
    e = person.enrollments[YEAR]
    if p.late_category is None or e.subsidy is None or e.subsidy.granted_on < p.late_category[1]:
        return view.payable_fen
    before = decide_subsidy(policy_by_id(e.policy_id), e.tier, e.cohort, person.categories_held(e.enrolled_on))
    return view.contribution_fen - (before.amount_fen if before is not None and not before.undetermined else 0)


def record(ledger: Ledger, p: PlannedPerson) -> None:
    """Write one planned person through the ledger's commands (the API's command path)."""
    clerk = Actor("demo-clerk", "collector", _point(p))
    bureau = Actor("demo-bureau", "bureau", _point(p).split("-")[0] + "-bureau")
    ledger.register(clerk, id_number=p.id_number, name=p.name, region=p.region, hukou_registered_on=p.hukou)
    for category, since in p.categories:
        ledger.change_identity(
            bureau, id_number=p.id_number, category=category, action="certify", effective_on=since, department="区民政局"
        )
    if p.enroll_on is None:
        return
    ledger.enroll(clerk, id_number=p.id_number, year=YEAR, tier=p.tier, cohort=p.cohort, enrolled_on=p.enroll_on,
                  school=DEMO_SCHOOL if p.cohort == "student" else None)
    # Amounts follow from what is payable (stable), so a second run replays the same requests.
    payable = _planned_payable(ledger, p)
    paid = 0
    for n, (part, paid_at, channel) in enumerate(p.payments):
        amount = payable // 2 if part == "part" and payable > 1 else payable - paid
        if amount <= 0:
            break
        ledger.pay(
            clerk,
            id_number=p.id_number,
            year=YEAR,
            amount=f"{amount // 100}.{amount % 100:02d}",
            paid_at=paid_at,
            channel=channel,
            receipt_no=f"R-{p.id_number[-8:]}-{n}" if channel == "cash" else None,
            idempotency_key=f"demo-{p.id_number}-{n}",
            fingerprint=f"{amount}-{paid_at.isoformat()}",
        )
        paid += amount
    if p.late_category:
        category, since = p.late_category
        ledger.change_identity(bureau, id_number=p.id_number, category=category, action="certify", effective_on=since)
