"""Subsidies by funder, collections by channel, assisted persons not enrolled: as of a date, as
known at a time, from a Source: the projection's rows, or the brute-force fold they are tested against.
REPORTS names all four reports, the enrollment report included, for the API and the CLI."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from domain.categories import chinese_name
from domain.errors import LedgerError
from domain.coverage import CoverageView
from domain.money import yuan
from domain.person import Person
from domain.policy import find_policy, policy_by_id
from projections.enrollment import COLUMNS as ENROLLMENT_COLUMNS
from projections.enrollment import Source, enrollment_report
from projections.reference import known_name
from projections.totals import POINT_LEVEL

SUBSIDY_COLUMNS = ["funder", "funder_name", "category", "category_name", "persons", "amount",
                   "persons_amount_undetermined"]
COLLECTION_COLUMNS = ["day", "channel", "collection_point", "payments", "amount", "cash_receipts"]
CHANNEL_COLUMNS = ["region", "name", "channel", "payments", "amount"]  # collections above a county
UNENROLLED_COLUMNS = ["village", "village_name", "id_number", "name", "categories", "enrollment"]
PAYABLE_COLUMNS = ["village", "village_name", "id_number", "name", "tier", "cohort", "contribution", "subsidy_mark",
                   "subsidy", "subsidy_category", "subsidy_category_name", "funder", "funder_name",
                   "individual_payable", "paid", "outstanding", "status", "payable_undetermined", "fee_waiver_mark",
                   "fee_waiver"]


def subsidies_report(source: Source, region: str, year: int, on: date) -> dict[str, Any]:
    """Persons and amounts per funder and category, for enrollments not cancelled on the date; and
    the persons a funder will pay for whose amount the notice leaves to other rules (据实), enrolled,
    paid or not: counted apart, never as 0.00 spent."""
    groups, funders = source.subsidy_groups(region, year, on)
    rows = [
        {"funder": f, "funder_name": funders.get(f, f), "category": c, "category_name": chinese_name(c),
         "persons": n, "amount": yuan(fen), "persons_amount_undetermined": waiting}
        for (f, c), (n, fen, waiting) in sorted(groups.items())
    ]
    total = {"funder": "total", "funder_name": "", "category": "", "category_name": "",
             "persons": sum(g[0] for g in groups.values()), "amount": yuan(sum(g[1] for g in groups.values())),
             "persons_amount_undetermined": sum(g[2] for g in groups.values())}
    waiting = total["persons_amount_undetermined"]
    warnings = [f"{waiting} person(s) enrolled under a subsidy whose amount the notice leaves to other rules:"
                " the funder will pay for them once it is set"] if waiting else []
    return {"region": region, "year": year, "as_of": on.isoformat(), "rows": rows, "total": total,
            "warnings": warnings}


def collections_report(source: Source, region: str, year: int, on: date,
                       name_of: Callable[[str], str] = known_name) -> dict[str, Any]:
    """A county and the regions within it: payments per day, channel and collection point, with the
    cash receipts listed, to reconcile against the remittances. A province or prefecture: payments
    per child region and channel, so that its answer grows with its counties, not with their
    collection points and days (each county's own report has those)."""
    if len(region) < POINT_LEVEL:
        channels = source.channel_groups(region, year, on)
        rows = [{"region": child, "name": name_of(child), "channel": ch, "payments": n, "amount": yuan(fen)}
                for (child, ch), (n, fen) in sorted(channels.items())]
        total = {"region": "total", "name": "", "channel": "", "payments": sum(n for n, _ in channels.values()),
                 "amount": yuan(sum(fen for _, fen in channels.values()))}
        cash = [(n, fen) for (_, channel), (n, fen) in channels.items() if channel == "cash"]
    else:
        groups = source.payment_groups(region, year, on)
        rows = [
            {"day": d, "channel": ch, "collection_point": pt, "payments": n, "amount": yuan(fen),
             "cash_receipts": " ".join(sorted(receipts))}
            for (d, ch, pt), (n, fen, receipts) in sorted(groups.items())
        ]
        total = {"day": "total", "channel": "", "collection_point": "", "payments": sum(r["payments"] for r in rows),
                 "amount": yuan(sum(e[1] for e in groups.values())), "cash_receipts": ""}
        cash = [(n, fen) for (_, channel, _), (n, fen, _) in groups.items() if channel == "cash"]
    return {"region": region, "year": year, "as_of": on.isoformat(), "rows": rows, "total": total,
            "warnings": _cash_warnings(region, year, cash)}


def _cash_warnings(region: str, year: int, cash: list[tuple[int, int]]) -> list[str]:
    """Cash taken where the region's policy allows it only by exception (003: 原则上不允许收取现金)."""
    if not cash:
        return []
    try:
        policy = find_policy(region, year)
    except LedgerError:
        return []  # a report over several regions' policies: no one rule to hold the rows to
    if policy.collection.cash != "discouraged":
        return []
    count, fen = sum(n for n, _ in cash), sum(fen for _, fen in cash)
    return [f"cash payments: {count}, {yuan(fen)} in all, although policy {policy.id} allows cash only by exception"
            f" ({policy.collection.cash_source})"]


def unenrolled_assisted_report(source: Source, region: str, year: int, on: date,
                               name_of: Callable[[str], str] = known_name) -> dict[str, Any]:
    """应保未保: persons holding any certified category on the date, not enrolled and paid for the year
    (参保缴费, SPEC Decision 14), by village; `enrollment` says which: not_enrolled or enrolled_unpaid."""
    rows = [{"village": village, "village_name": name_of(village), "id_number": id_mask, "name": name,
             "categories": categories, "enrollment": enrollment}
            for village, id_mask, name, categories, enrollment in source.unenrolled_assisted(region, year, on)]
    rows.sort(key=lambda r: (r["village"], r["id_number"], r["name"], r["categories"]))
    return {"region": region, "year": year, "as_of": on.isoformat(), "rows": rows, "warnings": []}


def payable_row(person: Person, view: CoverageView, name_of: Callable[[str], str] = known_name) -> dict[str, Any]:
    """One person's line of the 应征缴明细: what the tax bureau collects, and the subsidy with its mark
    (资助标识: 1 when a subsidy is granted)."""
    s = view.subsidy
    funders = policy_by_id(view.policy).funders if view.policy else {}
    owed_unknown = view.undetermined if view.owed_unknown and view.undetermined else ""
    return {"village": person.region, "village_name": name_of(person.region), "id_number": person.id_number,
            "name": person.name, "tier": view.tier, "cohort": view.cohort, "contribution": yuan(view.contribution_fen),
            "subsidy_mark": 1 if s is not None else 0, "subsidy": yuan(s.amount_fen if s else 0),
            "subsidy_category": s.category if s else "", "subsidy_category_name": chinese_name(s.category) if s else "",
            "funder": s.funder if s else "", "funder_name": funders.get(s.funder, s.funder) if s else "",
            "individual_payable": yuan(view.payable_fen), "paid": yuan(view.paid_fen),
            "outstanding": yuan(view.outstanding_fen), "status": view.status, "payable_undetermined": owed_unknown,
            # 免缴标识: nothing is payable because the contribution is waived, not because of a subsidy.
            "fee_waiver_mark": 1 if view.fee_waived else 0, "fee_waiver": view.fee_waived or ""}


def payable_report(source: Source, region: str, year: int, on: date,
                   name_of: Callable[[str], str] = known_name) -> dict[str, Any]:
    """应征缴明细 for the tax bureau (004 「将应征缴明细信息及时传递给税务部门」, 000 「资助标识和数据传送」): every
    enrollment not cancelled on the date, with its full identity number, by village."""
    rows, fen = [], dict.fromkeys(("contribution", "subsidy", "individual_payable", "paid", "outstanding"), 0)
    for person, view in source.payable(region, year, on):
        rows.append(payable_row(person, view, name_of))
        for key, amount in zip(fen, (view.contribution_fen, view.subsidy.amount_fen if view.subsidy else 0,
                                     view.payable_fen, view.paid_fen, view.outstanding_fen)):
            fen[key] += amount
    rows.sort(key=lambda r: (r["village"], r["id_number"]))
    total = {c: "" for c in PAYABLE_COLUMNS} | {"village": "total"} | {k: yuan(v) for k, v in fen.items()}
    total["subsidy_mark"] = sum(r["subsidy_mark"] for r in rows)  # the subsidised persons
    total["fee_waiver_mark"] = sum(r["fee_waiver_mark"] for r in rows)  # the waived newborns
    undetermined = sum(1 for r in rows if r["payable_undetermined"])
    warnings = [f"{undetermined} person(s) owe an amount the notice leaves undetermined: collect at most the payable"
                " shown, and settle the rest when the rule is known"] if undetermined else []
    return {"region": region, "year": year, "as_of": on.isoformat(), "persons": len(rows), "rows": rows,
            "total": total, "warnings": warnings}


REPORTS = {
    "enrollment": (enrollment_report, ENROLLMENT_COLUMNS),
    "subsidies": (subsidies_report, SUBSIDY_COLUMNS),
    "collections": (collections_report, COLLECTION_COLUMNS),
    "unenrolled-assisted": (unenrolled_assisted_report, UNENROLLED_COLUMNS),
    "payable": (payable_report, PAYABLE_COLUMNS),
}


def report_columns(kind: str, region: str) -> list[str]:
    """The columns of a report of `kind` for `region`, in order, for a table or a file."""
    if kind == "collections" and len(region) < POINT_LEVEL:
        return CHANNEL_COLUMNS
    return REPORTS[kind][1]
