"""HTTP API v1 (../shared/API.md) over the ledger's commands and per-person queries.

Endpoints are plain `def`: eventsourcing has no async API, so FastAPI runs them in its thread pool.
"""


import hashlib
import json
import re
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import logs, problems
from api.auth import Caller, Tokens
from api.collection_import import Importer, Summary
from api.limits import FILE_PATHS, BodyLimit
from api.schemas import (
    Day, Moment, CategoriesOut, Cancel, CoverageOut, Enroll, EnrollmentOut, EnrollmentReport, HistoryOut, ImportReport, IdentityChange, Pay, PaymentOut,
    PersonOut, RegisterPerson, VoidPayment, CoverageElsewhere, CoverageElsewhereOut,
)
from domain.categories import chinese_name
from domain.dates import china_date
from domain.errors import OUTSIDE_SCOPE, Forbidden, InvalidInput, LedgerError
from domain.ledger import Ledger
from domain.money import yuan
from domain.person import Person
from projections.export import to_csv, to_xlsx
from projections.follower import Background
from projections.reports import REPORTS
from projections.service import Reports

_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")
_BASE_FIELDS = {"originator_id", "originator_version", "recorded_at", "effective_at", "actor", "role", "collection_point"}

WRITERS = ("collector", "bureau", "admin")
BUREAU = ("bureau", "admin")
READERS = ("collector", "bureau", "auditor", "admin")


class Unauthenticated(LedgerError):
    kind = "unauthenticated"


problems.STATUS.update(unauthenticated=401, forbidden=403, too_large=413)


def create_app(ledger: Ledger | None = None, follow: bool = False) -> FastAPI:
    """The HTTP API over one ledger. With `follow`, a background follower keeps the report
    projection caught up while the app runs (`ledger serve`); reports catch up in any case."""
    ledger = ledger or Ledger()
    tokens = Tokens(ledger)
    reports = Reports(ledger.store, ledger.env)
    logs.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        follower = Background(reports.follower) if follow else None
        if follower:
            follower.start()
        yield
        if follower:
            follower.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Enrollment ledger API",
        version="1",
        description="Resident medical insurance (城乡居民基本医疗保险) enrollment ledger. Errors are RFC 9457 "
        "problem details (application/problem+json). Money is yuan as a string with two decimals.",
        responses={401: problems.PROBLEM_RESPONSES[401], 400: problems.PROBLEM_RESPONSES[400]},
    )
    app.state.ledger = ledger
    app.state.reports = reports
    problems.install(app)
    app.add_middleware(BodyLimit)
    bearer = HTTPBearer(auto_error=False, description="a token from `ledger token create`")

    def caller(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
        if credentials is None:
            raise Unauthenticated("send Authorization: Bearer <token>", "Authorization", "token_required")
        found = tokens.verify(credentials.credentials)
        if found is None:
            raise Unauthenticated("the token is unknown or revoked", "Authorization", "token_valid")
        return found

    Who = Annotated[Caller, Depends(caller)]

    def allow(who: Caller, roles: tuple[str, ...], what: str) -> None:
        if who.role not in roles:
            raise Forbidden(f"a {who.role} token may not {what}", None, "role")

    def in_scope(who: Caller, region: str) -> None:
        """A region the caller asked about by its code: naming it back tells them nothing new."""
        if not who.may_touch(region):
            raise Forbidden(
                f"region {region} is outside this token's regions ({', '.join(who.regions)})", "region", "region_scope"
            )

    def person_readable(who: Caller, person: Person) -> None:
        """Reads of a person outside the caller's regions say nothing about them, not even where they are."""
        if not who.may_touch(person.region):
            raise Forbidden(OUTSIDE_SCOPE, "id_number", "region_scope")

    responses = problems.PROBLEM_RESPONSES

    @app.post("/v1/persons", status_code=201, response_model=PersonOut, tags=["writes"],
              responses={200: {"model": PersonOut, "description": "the identical registration again"},
                         **{s: responses[s] for s in (403, 409, 413, 422)}})
    def register(body: RegisterPerson, who: Who, response: Response) -> dict[str, Any]:
        """Register (or confirm) a person."""
        allow(who, WRITERS, "register persons")
        person, created = ledger.register(who.actor, **body.model_dump())
        response.status_code = 201 if created else 200
        return person_out(person)

    @app.post("/v1/persons/{id_number}/identities", status_code=201, response_model=CategoriesOut, tags=["writes"],
              responses={s: responses[s] for s in (403, 404, 409, 413)})
    def identities(id_number: str, body: IdentityChange, who: Who,
                   document_type: str = "resident_id") -> dict[str, Any]:
        """Certify or end an identity category (bureau)."""
        allow(who, BUREAU, "change identity categories")
        person = ledger.change_identity(who.actor, id_number=id_number, document_type=document_type, **body.model_dump())
        today = china_date(ledger.clock())
        held = [s for s in person.categories if s.ended_on is None or s.ended_on > today]
        return {"id_number": person.id_number, "categories": [
            {"category": s.category, "name": chinese_name(s.category), "since": s.certified_on, "department": s.department}
            for s in held
        ]}

    @app.post("/v1/persons/{id_number}/prior-coverage", status_code=201, response_model=CoverageElsewhereOut,
              response_model_by_alias=True, tags=["writes"],
              responses={200: {"model": CoverageElsewhereOut, "description": "the same fact again, unchanged"},
                         **{s: responses[s] for s in (403, 404, 409, 413)}})
    def coverage_elsewhere(id_number: str, body: CoverageElsewhere, who: Who, response: Response,
                           document_type: str = "resident_id") -> dict[str, Any]:
        """Record cover held elsewhere (职工医保, another 统筹区) or before the ledger held the person
        (bureau): an enrollment overlapping it is refused (不得重复参保), it is a refund ground, and the
        person is not 应保未保 while it lasts."""
        allow(who, BUREAU, "record cover held elsewhere")
        person, created = ledger.record_coverage_elsewhere(
            who.actor, id_number=id_number, document_type=document_type, scheme=body.scheme, region=body.region,
            from_on=body.from_, to_on=body.to, source=body.source, evidence=body.evidence)
        response.status_code = 201 if created else 200
        return {"id_number": person.id_number, "coverage_elsewhere": [
            {"scheme": c.scheme, "region": c.region, "from_": c.from_on, "to": c.to_on, "source": c.source,
             "evidence": c.evidence, "recorded_at": c.recorded_at.isoformat()} for c in person.elsewhere]}

    @app.post("/v1/enrollments", status_code=201, response_model=EnrollmentOut, tags=["writes"],
              responses={200: {"model": EnrollmentOut, "description": "already enrolled so, unchanged"},
                         **{s: responses[s] for s in (403, 404, 409, 413, 422)}})
    def enroll(body: Enroll, who: Who, response: Response) -> dict[str, Any]:
        """Enroll a person for a coverage year (or change the tier before anything is paid)."""
        allow(who, WRITERS, "enroll persons")
        _, outcome = ledger.enroll(who.actor, **body.model_dump())
        response.status_code = 200 if outcome == "unchanged" else 201
        return ledger.coverage(body.id_number, body.year).to_api()

    @app.post("/v1/payments", status_code=201, response_model=PaymentOut, tags=["writes"],
              responses={201: {"description": "recorded; on a replay the first answer, with Idempotent-Replayed: true"},
                         **{s: responses[s] for s in (403, 404, 409, 413, 422)}})
    def pay(body: Pay, who: Who, idempotency_key: Annotated[str | None, Header(
            description="1-255 printable characters, scoped to the caller's collection point")] = None) -> JSONResponse:
        """Record a contribution payment. Retried with the same Idempotency-Key, it posts once."""
        allow(who, WRITERS, "record payments")
        if idempotency_key is None or not _KEY.fullmatch(idempotency_key):
            raise InvalidInput("is required: 1 to 255 printable characters", "Idempotency-Key", "idempotency_key")
        data = body.model_dump()
        fingerprint = hashlib.sha256(json.dumps(body.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
        result = ledger.pay(who.actor, idempotency_key=idempotency_key, fingerprint=fingerprint, **data)
        # A replay answers as the ledger did right after the first request's events.
        view = result.view or ledger.coverage_at_version(result.person_id, body.year, result.person_version)
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return JSONResponse({"payment_id": result.payment_id, "enrollment": view.to_api()}, 201, headers=headers)

    @app.post("/v1/enrollments/{id_number}/{year}/cancel", status_code=201, response_model=EnrollmentOut,
              tags=["writes"], responses={s: responses[s] for s in (403, 404, 409, 413, 422)})
    def cancel(id_number: str, year: int, body: Cancel, who: Who) -> dict[str, Any]:
        """End an enrollment (bureau); the refund is decided by the policy."""
        allow(who, BUREAU, "cancel enrollments")
        ledger.cancel(who.actor, id_number=id_number, year=year, **body.model_dump())
        return ledger.coverage(id_number, year).to_api()

    @app.post("/v1/persons/{id_number}/payments/{payment_id}/void", status_code=201, response_model=EnrollmentOut,
              tags=["writes"], responses={s: responses[s] for s in (403, 404, 413)})
    def void(id_number: str, payment_id: str, body: VoidPayment, who: Who) -> dict[str, Any]:
        """Correct a payment posted in error (bureau). The original event stays; the correction references it."""
        allow(who, BUREAU, "correct payments")
        year = ledger.void_payment(who.actor, id_number=id_number, payment_id=payment_id, reason=body.reason)
        return ledger.coverage(id_number, year).to_api()

    @app.get("/v1/persons/{id_number}/coverage", response_model=CoverageOut, response_model_exclude_none=False,
             tags=["reads"], responses={s: responses[s] for s in (403, 404)})
    def coverage(id_number: str, who: Who, year: Annotated[int, Query(ge=2000, le=2100)],
                 on: Annotated[Day | None, Query(description="the date tested against the benefit period, "
                                                 "computed from everything known at known_at")] = None,
                 as_of: Annotated[Day | None, Query(description="the answer as things stood on this date: "
                                                    "facts that took effect after it left out")] = None,
                 known_at: Moment | None = None, document_type: str = "resident_id") -> dict[str, Any]:
        """The enrollment as the ledger knew it at `known_at` (default now): covered, not covered or
        undetermined, on the date `on` when given."""
        allow(who, READERS, "read coverage")
        person = ledger.person(id_number, as_of=as_of, known_at=known_at, document_type=document_type)
        person_readable(who, person)
        return ledger.coverage_of(person, year, on=on, as_of=as_of, known_at=known_at).answer(on)

    @app.get("/v1/persons/{id_number}/history", response_model=HistoryOut, tags=["reads"],
             responses={s: responses[s] for s in (403, 404)})
    def history(id_number: str, who: Who, known_at: Moment | None = None,
                document_type: str = "resident_id") -> dict[str, Any]:
        """Every event about the person, oldest first, with who recorded it, when and where."""
        allow(who, READERS, "read history")
        person = ledger.person(id_number, document_type=document_type)
        person_readable(who, person)
        _, events = ledger.events_of(id_number, document_type)
        return {"events": [history_row(e) for e in events if known_at is None or e.recorded_at <= known_at]}

    @app.get("/v1/reports/enrollment", response_model=EnrollmentReport, tags=["reports"],
             responses={200: {"content": {"text/csv": {}, XLSX: {}}, "description": "json, csv or xlsx"},
                        **{s: responses[s] for s in (403,)}})
    def report_enrollment(who: Who, region: Annotated[str, Query(pattern=r"^[0-9]{2,12}$")],
                          year: Annotated[int, Query(ge=2000, le=2100)], as_of: Day | None = None,
                          known_at: Moment | None = None,
                          format: Literal["json", "csv", "xlsx"] = "json") -> Any:
        """Enrollment against the targets of each child region, as of a date, as known at a time."""
        return report_answer("enrollment", who, region, year, as_of, known_at, format)

    @app.post("/v1/imports/collections", tags=["writes"], response_model=ImportReport,
              responses={s: responses[s] for s in (403, 413)})
    async def import_collections(request: Request, who: Who) -> StreamingResponse:
        """The tax bureau's daily collection file (bureau): CSV in UTF-8 or GB18030, or XLSX/XLS, as the
        request body or as the multipart field `file`. Every row gets one outcome (a person outside the
        token's regions: `out_of_scope`, nothing written); the answer lists them all."""
        allow(who, BUREAU, "import collection files")
        upload = await spool_upload(request, FILE_PATHS["/v1/imports/collections"])
        out = tempfile.TemporaryFile()
        try:
            summary = await run_in_threadpool(import_file, ledger, who, upload, out)
        finally:
            upload.close()
        out.seek(0)

        def body():
            yield b'{"rows": ['
            first = True
            for line in out:
                yield (b"" if first else b",") + line.rstrip(b"\n")
                first = False
            yield b'], "counts": ' + json.dumps(summary.counts_dict()).encode()
            yield b', "totals": ' + json.dumps(summary.totals(), ensure_ascii=False).encode() + b"}"
            out.close()

        return StreamingResponse(body(), media_type="application/json")

    def report_answer(kind: str, who: Caller, region: str, year: int, as_of: date | None,
                      known_at: datetime | None, fmt: str) -> Any:
        allow(who, READERS, "read reports")
        if kind == "payable":  # full identity numbers, for the tax bureau
            allow(who, ("bureau", "auditor", "admin"), "read the payable list (应征缴明细)")
        in_scope(who, region)
        _, columns = REPORTS[kind]
        on = as_of or china_date(ledger.clock())
        report = reports.report(kind, region, year, on, known_at)
        return export(report, fmt, columns, f"{kind}-{region}-{year}-{on}")

    def other_report(kind: str):
        def endpoint(who: Who, region: Annotated[str, Query(pattern=r"^[0-9]{2,12}$")],
                     year: Annotated[int, Query(ge=2000, le=2100)], as_of: Day | None = None,
                     known_at: Moment | None = None,
                     format: Literal["json", "csv", "xlsx"] = "json") -> Any:
            return report_answer(kind, who, region, year, as_of, known_at, format)

        return endpoint

    for kind, doc in (
        ("subsidies", "Subsidised persons and amounts per funder and identity category."),
        ("collections", "Payments per day, channel and collection point, with the cash receipts."),
        ("unenrolled-assisted", "Assisted persons (any certified category) not enrolled for the year, by village."),
        ("payable", "应征缴明细 for the tax bureau (bureau, auditor, admin): each enrollment not cancelled, with the"
                    " full identity number, tier, contribution, subsidy and its mark (资助标识), payable, paid and"
                    " outstanding."),
    ):
        app.get(f"/v1/reports/{kind}", tags=["reports"], summary=doc,
                responses={200: {"content": {"application/json": {}, "text/csv": {}, XLSX: {}},
                                 "description": "json, csv or xlsx"}, 403: responses[403]})(other_report(kind))

    return app


def import_file(ledger: Ledger, who: Caller, upload, out) -> Summary:
    def emit(result) -> None:
        out.write(json.dumps(result.public(), ensure_ascii=False).encode() + b"\n")

    return Importer(ledger, actor_name=who.name, role=who.role, regions=who.regions).run_file(upload, emit)


async def spool_upload(request: Request, limit: int):
    """The file, from a multipart field `file` or the raw body, spooled to disk past 8 MiB."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    seen = 0
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("send the file (CSV or XLSX) in the multipart field 'file'", "file", "required")
        while chunk := await upload.read(1024 * 1024):
            seen += len(chunk)
            if seen > limit:
                raise TooLarge(f"the file is larger than {limit // (1024 * 1024)} MiB", "file", "too_large")
            spool.write(chunk)
    else:
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > limit:
                raise TooLarge(f"the file is larger than {limit // (1024 * 1024)} MiB", "file", "too_large")
            spool.write(chunk)
    spool.seek(0)
    return spool


class TooLarge(LedgerError):
    kind = "too_large"


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def export(report: dict[str, Any], fmt: str, columns: list[str], name: str) -> Any:
    if fmt == "json":
        return report
    if fmt == "csv":
        body, media = to_csv(report, columns), "text/csv; charset=utf-8"
    else:
        body, media = to_xlsx(report, columns, name), XLSX
    return Response(body, media_type=media, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


def person_out(person: Person) -> dict[str, Any]:
    r = person.registration
    assert r is not None
    return {"id_number": r.id_number, "document_type": r.document_type, "name": person.name, "sex": r.sex,
            "birth_date": r.birth_date, "region": person.region}


def history_row(e: Any) -> dict[str, Any]:
    data = {}
    for key, value in msgspec.to_builtins(e).items():
        if key in _BASE_FIELDS:
            continue
        if key.endswith("_fen") and isinstance(value, int):
            data[key[:-4]] = yuan(value)
        else:
            data[key] = value
    effective = e.paid_at if hasattr(e, "paid_at") else e.effective_at
    return {"position": e.originator_version, "type": type(e).__name__, "recorded_at": e.recorded_at.isoformat(),
            "effective": effective.isoformat(), "actor": e.actor, "role": e.role,
            "collection_point": e.collection_point, "data": data}
