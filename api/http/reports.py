"""Reports: enrollment against targets, subsidies, collections, 应保未保, the payable list; as JSON,
CSV or XLSX, as of a date and as known at a time."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from api import problems
from api.auth import Caller
from api.http.deps import TheLedger, TheReports, Who
from api.schemas import Day, EnrollmentReport, Moment
from api.services.read_audit import report_question
from api.services.reports import report_for
from api.state import read_by
from domain.ledger import Ledger
from projections.export import XLSX, download
from projections.service import Reports

router = APIRouter()
responses = problems.PROBLEM_RESPONSES
Region = Annotated[str, Query(pattern=r"^[0-9]{2,12}$")]
Year = Annotated[int, Query(ge=2000, le=2100)]
Format = Literal["json", "csv", "xlsx"]


def answer(request: Request, kind: str, who: Caller, ledger: Ledger, reports: Reports, region: str, year: int,
           as_of: date | None, known_at: datetime | None, fmt: str) -> Any:
    report, columns, name = report_for(who, ledger, reports, kind, region, year, as_of, known_at)
    read_by(request, who, f"report:{kind}", report_question(year, as_of, known_at, fmt), region)
    if fmt == "json":
        return report
    body, media, filename = download(report, fmt, columns, name)
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/v1/reports/enrollment", response_model=EnrollmentReport, tags=["reports"],
            responses={200: {"content": {"text/csv": {}, XLSX: {}}, "description": "json, csv or xlsx"},
                       **{s: responses[s] for s in (403,)}})
def report_enrollment(request: Request, who: Who, ledger: TheLedger, reports: TheReports, region: Region, year: Year,
                      as_of: Day | None = None, known_at: Moment | None = None, format: Format = "json") -> Any:
    """Enrollment against the targets of each child region, as of a date, as known at a time."""
    return answer(request, "enrollment", who, ledger, reports, region, year, as_of, known_at, format)


def _other_report(kind: str):
    def endpoint(request: Request, who: Who, ledger: TheLedger, reports: TheReports, region: Region, year: Year,
                 as_of: Day | None = None, known_at: Moment | None = None, format: Format = "json") -> Any:
        return answer(request, kind, who, ledger, reports, region, year, as_of, known_at, format)

    return endpoint


for _kind, _doc in (
    ("subsidies", "Subsidised persons and amounts per funder and identity category."),
    ("collections", "A county and the regions within it: payments per day, channel and collection point, with the"
                    " cash receipts. A province or prefecture: payments per child region and channel."),
    ("unenrolled-assisted", "Assisted persons (any certified category) not enrolled for the year, by village."),
    ("payable", "应征缴明细 for the tax bureau (bureau, auditor, admin): each enrollment not cancelled, with the"
                " full identity number, tier, contribution, subsidy and its mark (资助标识), payable, paid and"
                " outstanding."),
):
    router.get(f"/v1/reports/{_kind}", tags=["reports"], summary=_doc,
               responses={200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}},
                                "description": "json, csv or xlsx"}, 403: responses[403]})(_other_report(_kind))
