"""The console driven in a real headless Chromium (Debian's package) through Playwright, against
`ledger serve`'s app on a local port, on the demo's data for Qianjiang (500114) at 1/400 scale.
Each test saves a screenshot in its temp dir. Under CI=true a missing browser fails the run."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from datetime import datetime, timezone

import httpx
import pytest

from api.auth import Tokens
from api.services.demo import plan, record_all
from domain.ledger import Actor, Ledger

CHROMIUM = os.environ.get("LEDGER_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
BUREAU = Actor("officer-07", "bureau", "QJ-bureau")


def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    return None


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    missing = _browser_missing()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true runs the browser tests: {missing}")
        pytest.skip(missing)
    import uvicorn

    from api.app import create_app

    folder = tmp_path_factory.mktemp("console")
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(folder / "ledger.db")})
    record_all(ledger, list(plan(400, 2021)), 300)
    # One person whose payment is voided later: the correction the known_at control replays.
    person = next(p for p in plan(400, 2021) if p.payments)
    paid = ledger.coverage(person.id_number, 2021).paid_fen
    payment = ledger.events_of(person.id_number)[1]
    payment_id = next(e.payment_id for e in payment if type(e).__name__ == "PaymentRecorded")
    time.sleep(0.01)
    before_void = datetime.now(timezone.utc)
    time.sleep(0.01)
    ledger.void_payment(BUREAU, id_number=person.id_number, payment_id=payment_id, reason="入账有误")
    tokens = Tokens(ledger)
    issued = {"bureau": tokens.create("bureau", ["500114"], "QJ-bureau", "qj-bureau")[1],
              "auditor": tokens.create("auditor", [], None, "auditor")[1]}
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ledger, follow=True), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
    yield {"base": base, "browser": browser, "tokens": issued, "person": person, "before_void": before_void,
           "paid_fen": paid, "ledger": ledger}
    browser.close()
    pw.stop()
    server.should_exit = True
    thread.join(10)
    ledger.close()


def api_report(served, role: str, **params) -> dict:
    r = httpx.get(f"{served['base']}/v1/reports/enrollment", params=params,
                  headers={"Authorization": f"Bearer {served['tokens'][role]}"})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
def page(served, tmp_path, request):
    """A fresh browser context (no cookies), recording every request it makes."""
    context = served["browser"].new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    tab.requests = []
    tab.on("request", lambda r: tab.requests.append(r.url))
    yield tab
    tab.screenshot(path=str(tmp_path / f"{request.node.name}.png"), full_page=True)
    assert (tmp_path / f"{request.node.name}.png").stat().st_size > 0
    assert all(u.startswith(served["base"]) for u in tab.requests), [u for u in tab.requests
                                                                     if not u.startswith(served["base"])]
    context.close()


def sign_in(page, served, role="bureau"):
    page.goto(f"{served['base']}/console")
    assert page.url.endswith("/console/login")
    page.fill("#token", served["tokens"][role])
    page.click("#sign-in")
    page.wait_for_url(f"{served['base']}/console")


def figures(page) -> dict[str, dict[str, int]]:
    rows = {}
    for tr in page.query_selector_all("#report tbody tr"):
        rows[tr.get_attribute("data-region")] = {
            td.get_attribute("data-col"): int(td.inner_text()) for td in tr.query_selector_all("td[data-col]")}
    return rows


def expected(report) -> dict[str, dict[str, int]]:
    return {r["region"]: {k: r[k] for k in ("enrolled", "paid", "covered")} for r in report["rows"]}


def test_county_page_drill_down_and_as_of(page, served):
    sign_in(page, served)
    page.goto(f"{served['base']}/console/enrollment?region=500114&year=2021&as_of=2021-03-01")
    shown = figures(page)
    assert len(shown) == 30
    assert shown == expected(api_report(served, "bureau", region="500114", year=2021, as_of="2021-03-01"))
    assert page.query_selector_all("svg.chart rect.bar")  # one bar per township
    # Drill into the first township, then back up by the breadcrumb.
    first = next(iter(shown))
    page.click(f"#report tbody tr[data-region='{first}'] a")
    page.wait_for_url(f"**region={first}**")
    assert figures(page) == expected(api_report(served, "bureau", region=first, year=2021, as_of="2021-03-01"))
    page.click(".crumbs a:has-text('黔江区')")
    page.wait_for_url("**region=500114&**")
    # Earlier in the collection window fewer had paid: the page follows the API for the new date.
    page.fill("#as-of", "2020-11-15")
    page.click("#show")
    page.wait_for_url("**as_of=2020-11-15**")
    earlier = figures(page)
    assert earlier == expected(api_report(served, "bureau", region="500114", year=2021, as_of="2020-11-15"))
    assert sum(r["paid"] for r in earlier.values()) < sum(r["paid"] for r in shown.values())


def test_person_known_at_before_a_correction_shows_the_earlier_answer(page, served):
    sign_in(page, served, "auditor")
    person = served["person"]
    page.fill("#id-number", person.id_number)
    page.click(".search button")
    page.wait_for_url("**/console/persons/**")
    assert person.id_number not in page.url and person.id_number not in page.title()
    assert person.id_number[-4:] in page.title()
    paid_now = page.inner_text("#year-2021 [data-field=paid]")
    page.fill("#known-at", served["before_void"].isoformat())
    page.click("#show")
    page.wait_for_url("**known_at=**")
    paid_then = page.inner_text("#year-2021 [data-field=paid]")
    fen = served["paid_fen"]
    assert paid_then == f"{fen // 100}.{fen % 100:02d}" and paid_now != paid_then
    assert page.is_visible("#year-2021 .changed")
    assert page.query_selector("#timeline tr.after")  # the void, recorded after the chosen time


def test_person_page_shows_the_waiting_period_of_the_continuity_rules(page, served):
    """Qingdao's official example on the person page: two missed years, paid in the window, wait
    3 + 1 months counted from 1 January: covered from 1 May 2027."""
    from pathlib import Path

    from domain.policy_load import load_policy
    from tests.conftest import make_id

    ledger = served["ledger"]
    text = (Path(__file__).parent / "fixtures/policies/3702-2027.toml").read_text(encoding="utf-8")
    load_policy(ledger, Actor("ops", "admin"), text, file_name="3702-2027.toml", notice_number="青医保发〔2026〕1号",
                notice_date=datetime(2026, 8, 1).date())
    idn = make_id(datetime(1980, 5, 1).date(), "370202")
    ledger.register(BUREAU, id_number=idn, name="王芳", region="370202001001")
    ledger.record_coverage_elsewhere(BUREAU, id_number=idn, scheme="resident", region="370202",
                                     from_on=datetime(2024, 1, 1).date(), to_on=datetime(2024, 12, 31).date(),
                                     source="全民参保数据库")
    ledger.enroll(BUREAU, id_number=idn, year=2027, tier=1, enrolled_on=datetime(2026, 11, 20).date())
    ledger.pay(BUREAU, id_number=idn, year=2027, amount="400.00", channel="wechat",
               paid_at=datetime.fromisoformat("2026-11-20T10:00:00+08:00"))
    sign_in(page, served, "auditor")
    page.fill("#id-number", idn)
    page.click(".search button")
    page.wait_for_url("**/console/persons/**")
    waiting = page.inner_text("#year-2027 [data-field=waiting_period]")
    assert "3 + 1 个月" in waiting and "自1月1日起算" in waiting and "断保年数 2" in waiting
    assert page.inner_text("#year-2027 [data-field=benefit_period]").startswith("2027-05-01")


def test_sign_out_ends_the_session(page, served):
    sign_in(page, served)
    page.click("#sign-out")
    page.wait_for_url("**/console/login**")
    page.goto(f"{served['base']}/console/enrollment?region=500114&year=2021")
    assert "/console/login" in page.url


def test_a_phone_screen_needs_no_sideways_scrolling_of_the_page(page, served):
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, served)
    page.goto(f"{served['base']}/console/enrollment?region=500114&year=2021&as_of=2021-03-01")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.is_visible("#report")


def test_english_by_the_switch(page, served):
    sign_in(page, served)
    page.goto(f"{served['base']}/console/enrollment?region=500114&year=2021")
    page.click("text=English")
    page.wait_for_load_state()
    assert page.is_visible("text=Rate of target") and "region=500114" in page.url


def test_the_bureau_corrects_a_registration_and_records_a_death_from_the_person_page(page, served):
    """A clerk's corrections in the browser: a name typed wrong corrected, a departure with a date in
    the future refused on the page (the form open again, what was typed kept, nothing written), then
    recorded; the API answers with the same events."""
    person = [p for p in plan(400, 2021) if p.payments][5]
    ledger = served["ledger"]
    sign_in(page, served)
    page.fill("#id-number", person.id_number)
    page.click(".search button")
    page.wait_for_url("**/console/persons/**")
    address = page.url
    page.click("#correct summary")
    page.fill("#correct-name", "王更正")
    page.fill("#correct-reason", "姓名录错")
    page.click("#correct-submit")
    page.wait_for_url("**done=correct")
    assert page.is_visible("#done") and "王更正" in page.inner_text("#registration")
    assert ledger.person(person.id_number).name == "王更正"

    events = len(ledger.events_of(person.id_number)[1])
    page.click("#depart summary")
    page.select_option("#depart-reason", "death")
    page.fill("#depart-on", "2099-01-01")
    page.fill("#depart-source", "户籍注销")
    page.click("#depart-submit")
    page.wait_for_selector("#refused-depart")
    assert "发生日期" in page.inner_text("#refused-depart") and "未记账" in page.inner_text("#refused-depart")
    assert page.is_visible("#depart-source") and page.input_value("#depart-source") == "户籍注销"
    assert len(ledger.events_of(person.id_number)[1]) == events
    page.fill("#depart-on", "2021-06-30")
    page.click("#depart-submit")
    page.wait_for_url("**done=depart")
    assert page.is_visible("#done")
    assert ledger.person(person.id_number).left.left_on.isoformat() == "2021-06-30"
    r = httpx.get(f"{served['base']}/v1/persons/{person.id_number}/history",
                  headers={"Authorization": f"Bearer {served['tokens']['auditor']}"})
    kinds = [e["type"] for e in r.json()["events"]]
    assert "RegistrationCorrected" in kinds and "PersonLeft" in kinds
    # On a phone the open forms fit the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(address)
    for form in ("correct", "retract", "move", "depart"):
        page.click(f"#{form} summary")
    wide = page.evaluate("""[...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > 392)
        .map(e => e.tagName + '#' + e.id + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 12)""")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, wide


def test_a_prefecture_collections_page_shows_each_county_and_channel(page, served):
    """Above a county, the collections page lists each county and channel with the API's figures."""
    query = {"region": "5001", "year": 2021, "as_of": "2021-06-30"}
    answer = httpx.get(f"{served['base']}/v1/reports/collections", params=query,
                       headers={"Authorization": f"Bearer {served['tokens']['auditor']}"})
    assert answer.status_code == 200, answer.text
    sign_in(page, served, "auditor")
    page.goto(f"{served['base']}/console/collections?region=5001&year=2021&as_of=2021-06-30")
    headings = [th.inner_text() for th in page.query_selector_all("#report thead th")]
    assert headings == ["区划代码", "名称", "缴费渠道", "笔数", "金额（元）"]
    shown = [[td.inner_text() for td in tr.query_selector_all("td")] for tr in page.query_selector_all("#report tbody tr")]
    assert shown == [[r["region"], r["name"], r["channel"], str(r["payments"]), r["amount"]] for r in answer.json()["rows"]]
    assert {row[0] for row in shown} == {"500114"} and len(shown) > 1  # the demo's one county, by channel
    total = [td.inner_text() for td in page.query_selector_all("#total td")]
    assert total[3:] == [str(answer.json()["total"]["payments"]), answer.json()["total"]["amount"]]
