"""The console's pages. Each one parses, authorises and renders; the figures come from the same
services as the HTTP API's (api/services), so a page shows exactly what the API answers."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import BUREAU, READERS, Caller, allow, person_readable
from api.console import charts, corrections
from api.console.fields import day
from api.console.i18n import LANGUAGES, translator
from api.console.sessions import COOKIE, LOGIN_COOKIE, Session, same
from api.limits import FILE_PATHS, spool_upload
from api.services.collection_import import SUCCESS, RowResult, import_file
from api.services.person_page import person_page
from api.services.reports import report_for
from api.services.read_audit import COLUMNS as READ_COLUMNS
from api.services.read_audit import report_question
from api.state import ledger_of, metrics_of, read_by, reports_of, sessions_of, tokens_of
from domain.dates import CHINA, china_date
from api.problems import STATUS
from domain.errors import Forbidden, InvalidInput, LedgerError, NotFound
from domain.idnumber import DOCUMENT_TYPES, mask
from domain.ledger import Ledger
from projections.export import download
from projections.reference import region_name

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
templates.env.filters["percent"] = charts.percent

REPORT_PAGES = ("enrollment", "subsidies", "collections", "unenrolled-assisted")
SHOWN_ROWS = 2000  # longer lists are for the download
_REGION = re.compile(r"[0-9]{2,12}")
_MOMENT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?")
LANG_COOKIE = "ledger_lang"


class SignedOut(Exception):
    """No session, or its token was revoked: the sign-in page, with why."""

    def __init__(self, reason: str | None = None):
        self.reason = reason


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def language(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "zh")
    return lang if lang in LANGUAGES else "zh"


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    context.setdefault("who", None)
    context.setdefault("csrf", "")
    context["can_import"] = context["who"] is not None and context["who"].role in BUREAU
    context["can_audit"] = context["who"] is not None and context["who"].role in ("auditor", "admin")
    context["document_types"] = DOCUMENT_TYPES
    return templates.TemplateResponse(request, template, {"t": translator(lang), "lang": lang, **context},
                                      status_code=status)


def signed_in(request: Request) -> tuple[Caller, Session]:
    sid = request.cookies.get(COOKIE)
    session = sessions_of(request).get(sid)
    if session is None:
        raise SignedOut("session_ended" if sid else None)
    who = tokens_of(request).verify_hash(session.token_hash)
    if who is None:  # revoked since sign-in
        sessions_of(request).close(sid)
        raise SignedOut("token_wrong")
    return who, session


async def checked_form(request: Request, session: Session) -> Any:
    form = await request.form(max_files=1, max_fields=10)
    if not same(form.get("csrf"), session.csrf):
        raise Forbidden("this form has expired or did not come from this console: open the page again", "csrf", "csrf")
    return form


def moment(value: str | None, field: str = "known_at") -> datetime | None:
    """RFC 3339 as the API takes it; without an offset (a browser's date-time field), China time."""
    if not value:
        return None
    if _MOMENT.fullmatch(value):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "T"))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA)
        except ValueError:
            pass
    raise InvalidInput("must be a date and time like 2021-02-15T10:00 (China time) or with an offset,"
                       " like 2021-02-15T10:00:00+08:00", field, "date_time")


def year_of(value: str | None, ledger: Ledger) -> int:
    if not value:
        return china_date(ledger.clock()).year
    if value.isdigit() and 2000 <= int(value) <= 2100:
        return int(value)
    raise InvalidInput("must be a year from 2000 to 2100", "year", "year")


def region_of(value: str | None, who: Caller) -> str:
    if not value:
        return who.regions[0] if who.regions else "50"
    if _REGION.fullmatch(value):
        return value
    raise InvalidInput("must be a region code of 2 to 12 digits, like 500114", "region", "region")


def _crumbs(region: str) -> list[tuple[str, str]]:
    cuts = [c for c in (2, 4, 6, 9) if c < len(region)] + [len(region)]  # province, city, county, township
    return [(region[:c], region_name(region[:c])) for c in cuts]


# -- signing in and out --------------------------------------------------------------------------


@router.get("/login")
def login_page(request: Request, reason: str | None = None) -> HTMLResponse:
    return _login(request, reason if reason in ("signed_out",) else None)


def _login(request: Request, message: str | None, status: int = 200) -> HTMLResponse:
    pair = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = render(request, "login.html", status, message=message, csrf=pair)
    response.set_cookie(LOGIN_COOKIE, pair, httponly=True, samesite="strict", secure=_secure(request),
                        path="/console")
    return response


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form(max_files=0, max_fields=5)
    if not same(form.get("csrf"), request.cookies.get(LOGIN_COOKIE)):
        return _login(request, "session_ended", 403)
    token = str(form.get("token") or "").strip()
    if not token or tokens_of(request).verify(token) is None:
        return _login(request, "token_wrong", 401)
    response = RedirectResponse("/console", 303)
    response.set_cookie(COOKIE, sessions_of(request).open(token), httponly=True, samesite="strict", secure=_secure(request),
                        path="/console")
    response.delete_cookie(LOGIN_COOKIE, path="/console")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    who, session = signed_in(request)
    await checked_form(request, session)
    sessions_of(request).close(request.cookies.get(COOKIE))
    response = RedirectResponse("/console/login?reason=signed_out", 303)
    response.delete_cookie(COOKIE, path="/console")
    return response


@router.get("/language")
def switch_language(request: Request, to: str = "zh", back: str = "/console") -> Response:
    # Only back into the console: never a redirect to another site.
    target = back if back.startswith("/console") else "/console"
    response = RedirectResponse(target, 303)
    response.set_cookie(LANG_COOKIE, to if to in LANGUAGES else "zh", samesite="strict", secure=_secure(request),
                        path="/console", max_age=365 * 86400)
    return response


# -- pages ---------------------------------------------------------------------------------------


@router.get("")
def home(request: Request) -> HTMLResponse:
    who, session = signed_in(request)
    ledger = ledger_of(request)
    return render(request, "home.html", who=who, csrf=session.csrf, region=region_of(None, who),
                  year=china_date(ledger.clock()).year)


def _report_page(kind: str):
    def page(request: Request, region: str | None = None, year: str | None = None, as_of: str | None = None,
             known_at: str | None = None, format: str = "html") -> Response:
        who, session = signed_in(request)
        ledger, reports = ledger_of(request), reports_of(request)
        code, y = region_of(region, who), year_of(year, ledger)
        on, at = day(as_of, "as_of"), moment(known_at)
        if format not in ("html", "csv", "xlsx"):  # refused before the report is made, or its read noted
            raise InvalidInput("must be html, csv or xlsx", "format", "format")
        report, columns, name = report_for(who, ledger, reports, kind, code, y, on, at)
        read_by(request, who, f"report:{kind}", report_question(y, on, at, format), code)
        if format != "html":
            body, media, filename = download(report, format, columns, name)
            return Response(body, media_type=media,
                            headers={"Content-Disposition": f'attachment; filename="{filename}"'})
        rows = report["rows"]
        context = dict(who=who, csrf=session.csrf, kind=kind, report=report, columns=columns,
                       rows=rows[:SHOWN_ROWS], more=max(0, len(rows) - SHOWN_ROWS), region=code, year=y,
                       as_of=as_of or "", known_at=known_at or "", crumbs=_crumbs(code),
                       query=request.url.query)
        if kind == "enrollment":
            context["chart"] = charts.bars(rows, report.get("targets"))
            context["drill"] = len(code) < 12
        return render(request, f"{'enrollment' if kind == 'enrollment' else 'report'}.html", **context)

    page.__name__ = f"page_{kind.replace('-', '_')}"
    return page


for _kind in REPORT_PAGES:
    router.get(f"/{_kind}")(_report_page(_kind))


@router.post("/persons/search")
async def search_person(request: Request) -> Response:
    who, session = signed_in(request)
    form = await checked_form(request, session)
    allow(who, READERS, "read persons")
    ledger = ledger_of(request)
    id_number = str(form.get("id_number") or "").strip().upper()
    if not id_number:
        raise InvalidInput("is required: the person's identity number", "id_number", "required")
    document_type = str(form.get("document_type") or "resident_id")
    if document_type not in DOCUMENT_TYPES:
        raise InvalidInput(f"must be one of {', '.join(DOCUMENT_TYPES)}", "document_type", "document_type")
    person = await run_in_threadpool(lambda: ledger.person(id_number, document_type=document_type))
    person_readable(who, person)
    return RedirectResponse(f"/console/persons/{person.id}", 303)


def _person_id(ref: str) -> UUID:
    try:
        return UUID(ref)
    except ValueError:
        raise NotFound("no person at this address", "person", "person_exists") from None


@router.get("/persons/{ref}")
def person(request: Request, ref: str, known_at: str | None = None, done: str | None = None) -> HTMLResponse:
    who, session = signed_in(request)
    allow(who, READERS, "read persons")
    return _person_response(request, who, session, ref, known_at or "",
                            done=done if done in corrections.ACTIONS else None)


def _person_response(request: Request, who: Caller, session: Session, ref: str, known_at: str = "", *,
                     status: int = 200, done: str | None = None, failed: dict[str, Any] | None = None) -> HTMLResponse:
    page = person_page(ledger_of(request), _person_id(ref), moment(known_at))
    person_readable(who, page.current)
    read_by(request, who, "person_page", mask(page.current.id_number), page.current.region)
    can_correct = who.role in BUREAU and not known_at
    return render(request, "person.html", status, who=who, csrf=session.csrf, page=page,
                  masked=mask(page.current.id_number), known_at=known_at, ref=ref, done=done, failed=failed,
                  can_correct=can_correct, correctable=corrections.choices(page.current) if can_correct else None)


@router.post("/persons/{ref}/{action}")
async def correct_person(request: Request, ref: str, action: str) -> Response:
    """更正 and 注销 from the person page (bureau, admin): the same ledger commands as the API's,
    each an event naming what it corrects. A refusal shows the page again with the form as typed
    and the field named; nothing is written."""
    who, session = signed_in(request)
    if action not in corrections.ACTIONS:
        raise NotFound("no such correction", "action", "action")
    allow(who, BUREAU, "correct persons")
    form = await checked_form(request, session)
    ledger = ledger_of(request)
    current = await run_in_threadpool(corrections.person_of, ledger, _person_id(ref))
    person_readable(who, current)
    try:
        await run_in_threadpool(corrections.ACTIONS[action], ledger, who.actor, current, form)
    except LedgerError as e:
        if isinstance(e, Forbidden):
            raise
        typed = {k: str(v) for k, v in form.items() if k != "csrf" and isinstance(v, str)}
        return _person_response(request, who, session, ref, status=STATUS.get(e.kind, 422),
                                failed={"form": action, "field": e.field, "detail": e.message, "typed": typed})
    return RedirectResponse(f"/console/persons/{ref}?done={action}", 303)


@router.get("/audit-reads")
def audit_reads(request: Request, since: str | None = None, token: str | None = None) -> HTMLResponse:
    """The access audit for auditors: the latest reads, newest first, within the auditor's regions."""
    who, session = signed_in(request)
    allow(who, ("auditor", "admin"), "read the access audit")
    start = moment(since, "since")
    if token is not None and len(token) > 64:
        raise InvalidInput("is a token's name, at most 64 characters", "token", "token_name")
    rows = request.app.state.read_audit.reads(who.regions, start, None, token or None, SHOWN_ROWS)
    return render(request, "audit_reads.html", who=who, csrf=session.csrf, rows=rows, columns=READ_COLUMNS,
                  since=since or "", token=token or "")


@router.get("/imports")
def import_page(request: Request) -> HTMLResponse:
    who, session = signed_in(request)
    allow(who, BUREAU, "import collection files")
    return render(request, "imports.html", who=who, csrf=session.csrf, result=None)


@router.post("/imports")
async def import_upload(request: Request) -> HTMLResponse:
    who, session = signed_in(request)
    allow(who, BUREAU, "import collection files")
    await checked_form(request, session)
    upload = await spool_upload(request, FILE_PATHS["/console/imports"])
    failed: list[dict[str, Any]] = []
    more = 0

    def keep_failed(result: RowResult) -> None:  # the page lists the rows not posted, the first SHOWN_ROWS
        nonlocal more
        if result.outcome not in SUCCESS:
            if len(failed) < SHOWN_ROWS:
                failed.append(result.public())
            else:
                more += 1

    try:
        summary = await run_in_threadpool(import_file, ledger_of(request), who, upload, keep_failed)
    finally:
        upload.close()
    metrics_of(request).counted(summary.counts_dict())
    return render(request, "imports.html", who=who, csrf=session.csrf,
                  result={"counts": summary.counts_dict(), "failed": failed, "more": more,
                          "totals": summary.totals()})


# -- errors as pages -----------------------------------------------------------------------------


def error_page(request: Request, status: int, detail: str, field: str | None = None) -> Response:
    """A problem shown to a person: what went wrong and where to go, never a stack trace."""
    try:
        who, session = signed_in(request)
    except SignedOut as e:
        return _login(request, e.reason or "session_ended", 401)
    heading = {403: "forbidden", 404: "not_found"}.get(status, "error")
    return render(request, "error.html", status, who=who, csrf=session.csrf, heading=heading, detail=detail,
                  field=field)


def signed_out_page(request: Request, exc: SignedOut) -> Response:
    if exc.reason is None and request.method == "GET":
        return RedirectResponse("/console/login", 303)
    return _login(request, exc.reason or "session_ended", 401)


