"""The console through HTTP as a hostile or careless user meets it, on SQLite and PostgreSQL:
sign-in and sessions, scopes, CSRF, XSS and spreadsheet formulas, and pages equal to the API."""

from __future__ import annotations

import io
import re
from datetime import date

import openpyxl
from fastapi.testclient import TestClient

from conftest import event_count
from console_helpers import csrf_of, signed_in
from test_api import OTHER_VILLAGE, VILLAGE, enroll, h, pay, register
from test_collection_import import EXPECTED, FIXTURES, seed

HOSTILE = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://evil.example","x")'


def cookies_set(response) -> list[str]:
    return response.headers.get_list("set-cookie")


def test_sign_in_gives_a_strict_http_only_session_and_the_token_is_in_no_url_or_page(api):
    client = TestClient(api.app, raise_server_exceptions=False)
    form = client.get("/console/login")
    token = api.tokens["bureau"]
    r = client.post("/console/login", data={"token": token, "csrf": csrf_of(form.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    session = next(c for c in cookies_set(r) if c.startswith("ledger_session="))
    assert "HttpOnly" in session and "SameSite=strict" in session.replace("Strict", "strict")
    assert token not in session
    seen = [client.get(p) for p in ("/console", "/console/enrollment?region=500114&year=2021")]
    for page in seen:
        assert page.status_code == 200
        assert token not in page.text and token not in str(page.url)
        assert all(token not in v for v in page.headers.values())


def test_a_wrong_token_gets_the_sign_in_page_with_a_message_not_a_trace(api):
    client = TestClient(api.app, raise_server_exceptions=False)
    csrf = csrf_of(client.get("/console/login").text)
    r = client.post("/console/login", data={"token": "not-a-token", "csrf": csrf})
    assert r.status_code == 401
    assert "令牌无效或已被吊销" in r.text and "Traceback" not in r.text
    assert not any(c.startswith("ledger_session=") for c in cookies_set(r))


def test_a_revoked_token_ends_its_console_session(api):
    from api.auth import Tokens

    client = signed_in(api, "scoped")
    assert client.get("/console").status_code == 200
    Tokens(api.ledger).revoke("collector-qijiang")
    api.app.state.tokens = Tokens(api.ledger)  # a fresh cache, as a restarted verifier would have
    r = client.get("/console/enrollment?region=500110&year=2021")
    assert r.status_code == 401 and "令牌无效或已被吊销" in r.text


def test_pages_without_a_session_go_to_sign_in(api):
    client = TestClient(api.app, raise_server_exceptions=False)
    for path in ("/console", "/console/enrollment?region=500114&year=2021", "/console/imports"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login", path


def test_sign_out_needs_the_form_token_and_then_ends_the_session(api):
    client = signed_in(api)
    refused = client.post("/console/logout", data={"csrf": "forged"})
    assert refused.status_code == 403 and client.get("/console").status_code == 200
    r = client.post("/console/logout", data={"csrf": client.csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_a_region_outside_the_scope_gets_a_403_page_and_no_figures(api):
    idn, _ = register(api, region=OTHER_VILLAGE, name="外区人")
    client = signed_in(api, "scoped")  # a collector for 500110
    for path in ("/console/enrollment?region=500114&year=2021", "/console/unenrolled-assisted?region=500114&year=2021",
                 "/console/enrollment?region=500114&year=2021&format=csv"):
        r = client.get(path)
        assert r.status_code == 403 and "无权访问" in r.text and "<tr data-region" not in r.text, path
        assert r.headers["content-type"].startswith("text/html")
    found = client.post("/console/persons/search", data={"id_number": idn, "csrf": client.csrf}, follow_redirects=False)
    assert found.status_code == 403 and "外区人" not in found.text and OTHER_VILLAGE not in found.text
    admin = signed_in(api)
    ref = admin.post("/console/persons/search", data={"id_number": idn, "csrf": admin.csrf}, follow_redirects=False)
    page = client.get(ref.headers["location"])
    assert page.status_code == 403 and "外区人" not in page.text and OTHER_VILLAGE not in page.text


def test_an_auditor_reads_but_writes_nothing(api):
    client = signed_in(api, "auditor")
    assert client.get("/console/enrollment?region=500110&year=2021").status_code == 200
    before = event_count(api.ledger)
    assert client.get("/console/imports").status_code == 403
    files = {"file": ("daily.csv", (FIXTURES / "collections_en_utf8_bom.csv").read_bytes(), "text/csv")}
    r = client.post("/console/imports", data={"csrf": client.csrf}, files=files)
    assert r.status_code == 403 and event_count(api.ledger) == before
    assert "税务征收文件导入" not in r.text.split("<main>")[0]  # no import link in the auditor's menu


def test_forms_without_the_csrf_token_are_refused_and_write_nothing(api):
    seed(api.ledger)
    client = signed_in(api, "bureau")
    before = event_count(api.ledger)
    files = {"file": ("daily.csv", (FIXTURES / "collections_en_utf8_bom.csv").read_bytes(), "text/csv")}
    for data in ({}, {"csrf": "forged"}, {"csrf": signed_in(api, "admin").csrf}):  # another session's token
        r = client.post("/console/imports", data=data, files=files)
        assert r.status_code == 403 and "csrf" in r.text, data
    assert event_count(api.ledger) == before
    # Signing in needs the form's own pair too: a page on another site cannot sign a browser in.
    outsider = TestClient(api.app, raise_server_exceptions=False)
    r = outsider.post("/console/login", data={"token": api.tokens["admin"]}, follow_redirects=False)
    assert r.status_code == 403 and not any(c.startswith("ledger_session=") for c in cookies_set(r))


def test_names_show_as_text_and_downloads_neutralise_formulas(api):
    hostile, _ = register(api, name=HOSTILE)
    formula, _ = register(api, name=FORMULA)
    for idn in (hostile, formula):
        api.post(f"/v1/persons/{idn}/identities", json={"category": "dibao", "action": "certify",
                 "effective_on": "2020-01-01"}, headers=h(api, "bureau"))
    client = signed_in(api, "bureau")
    listing = client.get("/console/unenrolled-assisted?region=500110&year=2021&as_of=2021-03-01")
    assert listing.status_code == 200
    assert HOSTILE not in listing.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in listing.text
    ref = client.post("/console/persons/search", data={"id_number": hostile, "csrf": client.csrf}).url
    page = client.get(ref)
    assert HOSTILE not in page.text and "&lt;script&gt;" in page.text
    csv = client.get("/console/unenrolled-assisted?region=500110&year=2021&as_of=2021-03-01&format=csv")
    assert csv.status_code == 200 and "'=HYPERLINK" in csv.content.decode("utf-8-sig")
    assert not re.search(r"(^|,)=HYPERLINK", csv.content.decode("utf-8-sig"), re.M)
    xlsx = client.get("/console/unenrolled-assisted?region=500110&year=2021&as_of=2021-03-01&format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    cells = [c for row in sheet.iter_rows() for c in row if c.value == FORMULA]
    assert cells and all(c.data_type == "s" and c.quotePrefix for c in cells)


def test_console_pages_forbid_inline_script_and_other_origins(api):
    client = signed_in(api)
    for path in ("/console/login", "/console", "/console/enrollment?region=500110&year=2021"):
        r = client.get(path)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "unsafe-inline" not in csp and "script-src" not in csp
        assert "<script" not in r.text and "style=" not in r.text
        assert not re.search(r'(src|href|action)="(https?:)?//', r.text), path


def test_the_enrollment_page_shows_what_the_api_answers_for_each_as_of_and_known_at(api):
    idn, _ = register(api)
    owed = enroll(api, idn).json()["individual_payable"]
    api.ledger.clock.advance(days=1)
    between = api.ledger.clock()
    assert pay(api, idn, amount=owed, paid_at="2020-12-01T10:00:00+08:00").status_code == 201
    client = signed_in(api, "auditor")
    for params in ({"as_of": "2020-11-15"}, {"as_of": "2021-03-01"},
                   {"as_of": "2021-03-01", "known_at": between.isoformat()}):
        query = {"region": "500110", "year": 2021, **params}
        expected = api.get("/v1/reports/enrollment", params=query, headers=h(api, "auditor")).json()
        page = client.get("/console/enrollment", params=query)
        assert page.status_code == 200, page.text
        total = re.search(r'<tr id="total">(.*?)</tr>', page.text, re.S).group(1)
        shown = {k: int(v) for k, v in re.findall(r'data-col="(\w+)">(\d+)<', total)}
        assert shown == {k: expected["total"][k] for k in ("enrolled", "paid", "covered")}, params
        rows = re.findall(r'<tr data-region="(\d+)"', page.text)
        assert rows == [r["region"] for r in expected["rows"]]
    assert [client.get("/console/enrollment", params={"region": "500110", "year": 2021, "as_of": d}).text.count(
        'data-col="paid">1<') for d in ("2020-11-15", "2021-03-01")] == [0, 2]  # the township row and the total


def test_person_search_goes_to_an_opaque_address_and_known_at_shows_the_earlier_answer(api):
    idn, _ = register(api, born=date(1980, 1, 2))
    owed = enroll(api, idn).json()["individual_payable"]
    r = pay(api, idn, amount=owed, paid_at="2020-12-01T10:00:00+08:00")
    payment_id = r.json()["payment_id"]
    before_void = api.ledger.clock()
    api.ledger.clock.advance(hours=1)
    api.post(f"/v1/persons/{idn}/payments/{payment_id}/void", json={"reason": "重复入账"}, headers=h(api, "bureau"))
    client = signed_in(api, "auditor")
    found = client.post("/console/persons/search", data={"id_number": idn, "csrf": client.csrf}, follow_redirects=False)
    address = found.headers["location"]
    assert found.status_code == 303 and idn not in address and idn[-4:] not in address
    now = client.get(address)
    title = re.search(r"<title>(.*?)</title>", now.text).group(1)
    assert idn not in title and idn[:6] in title and idn[-4:] in title
    assert re.search(r'data-field="paid">0.00<', now.text)
    earlier = client.get(address, params={"known_at": before_void.isoformat()})
    assert re.search(rf'data-field="paid">{re.escape(owed)}<', earlier.text)
    assert "此后已变化" in earlier.text and "此时点之后记账" in earlier.text
    assert re.search(r'href="#e\d+">更正 #\d+', now.text)  # the void links to the payment it corrects
    assert client.get("/console/persons/not-a-uuid").status_code == 404


def test_the_import_page_shows_counts_and_the_rows_not_posted_with_line_and_reason(api):
    seed(api.ledger)
    client = signed_in(api, "bureau")
    files = {"file": ("daily.csv", (FIXTURES / "collections_zh_gb18030.csv").read_bytes(), "text/csv")}
    r = client.post("/console/imports", data={"csrf": client.csrf}, files=files)
    assert r.status_code == 200, r.text
    assert re.search(r'data-outcome="posted">1<', r.text) and re.search(r'data-outcome="malformed">6<', r.text)
    lines = [int(n) for n in re.findall(r"<tr><td>(\d+)</td>", r.text.split('id="not-posted"')[1])]
    assert lines == sorted(n for n, o in EXPECTED.items() if o not in ("posted", "enrolled_and_posted", "already_posted"))


def test_english_by_a_switch_that_only_goes_back_into_the_console(api):
    client = signed_in(api)
    r = client.get("/console/language", params={"to": "en", "back": "//evil.example/x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console"
    r = client.get("/console/language", params={"to": "en", "back": "/console/enrollment?region=500110&year=2021"})
    assert "Enrollment" in r.text and "Rate of target" in r.text


def test_the_api_docs_load_nothing_from_another_host(api):
    page = api.get("/docs")
    assets = re.findall(r"(?:src|href|url)\s*[=:]\s*['\"]([^'\"]+)['\"]", page.text)
    assert assets and all(a.startswith("/") for a in assets), assets
    for asset in assets:
        if "static" in asset:
            assert api.get(asset).status_code == 200, asset


def test_a_bad_parameter_names_the_field_on_the_page(api):
    client = signed_in(api)
    for params, field in (({"region": "50x", "year": "2021"}, "region"), ({"region": "500110", "year": "20"}, "year"),
                          ({"region": "500110", "year": "2021", "as_of": "2021-02-30"}, "as_of"),
                          ({"region": "500110", "year": "2021", "known_at": "yesterday"}, "known_at")):
        r = client.get("/console/enrollment", params=params)
        assert r.status_code in (400, 422) and f"<strong>{field}</strong>" in r.text, (params, r.status_code)


def test_the_token_and_identity_numbers_reach_no_line_of_the_served_log(tmp_path):
    """`ledger serve` with its access log on: sign in, search a person, fail a sign-in."""
    import httpx

    from served import ledger_env, serving, token

    env = ledger_env(tmp_path)
    secret = token(tmp_path, env, "admin", "clerk")
    idn = "500110197505050012"
    with open(tmp_path / "serve.log", "w") as log, serving(tmp_path, env, output=log) as base, \
            httpx.Client(base_url=base) as browser:
        browser.post("/console/login", data={"token": secret + "x", "csrf": csrf_of(browser.get("/console/login").text)})
        browser.post("/console/login", data={"token": secret, "csrf": csrf_of(browser.get("/console/login").text)})
        home = browser.get("/console")
        assert home.status_code == 200
        browser.post("/console/persons/search", data={"id_number": idn, "csrf": csrf_of(home.text)})
    text = (tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert "POST /console/login" in text and "POST /console/persons/search" in text, text[-2000:]
    assert secret not in text and secret[3:20] not in text and idn not in text


def test_a_prefecture_collections_page_lists_each_county_and_channel_as_the_api_does(api):
    """Above a county the collections report is per child region and channel, on the page, in
    the API's answer and in the CSV alike; a county keeps its days and collection points."""
    for region, channel, key in ((VILLAGE, "wechat", "k-1"), (OTHER_VILLAGE, "pos", "k-2"), (OTHER_VILLAGE, "pos", "k-3")):
        idn, _ = register(api, region=region)
        enroll(api, idn)
        assert pay(api, idn, key=key, amount="10.00", channel=channel).status_code == 201
    query = {"region": "5001", "year": 2021, "as_of": "2021-03-01"}
    expected = api.get("/v1/reports/collections", params=query, headers=h(api, "auditor")).json()
    assert [(r["region"], r["channel"], r["payments"], r["amount"]) for r in expected["rows"]] == [
        (VILLAGE[:6], "wechat", 1, "10.00"), (OTHER_VILLAGE[:6], "pos", 2, "20.00")]
    client = signed_in(api, "auditor")
    page = client.get("/console/collections", params=query)
    assert page.status_code == 200
    headings = re.findall(r"<th>(.*?)</th>", page.text.split("<tbody", 1)[0].rsplit("<thead", 1)[1])
    assert headings == ["区划代码", "名称", "缴费渠道", "笔数", "金额（元）"]
    assert OTHER_VILLAGE[:6] in page.text and "20.00" in page.text
    csv = client.get("/console/collections", params={**query, "format": "csv"}).content.decode("utf-8-sig")
    assert csv.splitlines()[0] == "region,name,channel,payments,amount"
    county = api.get("/v1/reports/collections", params={**query, "region": OTHER_VILLAGE[:6]},
                     headers=h(api, "auditor")).json()
    assert [(r["day"], r["channel"], r["payments"]) for r in county["rows"]] == [("2020-11-02", "pos", 2)]
