"""Who read what (等保 access audit), on SQLite and PostgreSQL: every read of a person's data and
every report served is recorded with the token, role, time, what was asked (the person masked) and
the client's address; auditors query it through the API and the command line, scoped to their
regions; others are refused."""

from __future__ import annotations

import json
from datetime import date

from api.auth import Tokens
from conftest import ledger_environ
from console_helpers import signed_in
from served import ledger as run_ledger
from test_api import OTHER_VILLAGE, enroll, h, register


def reads(api, role="auditor", **params):
    r = api.get("/v1/audit/reads", params=params, headers=h(api, role))
    assert r.status_code == 200, r.text
    return r.json()["reads"]


def test_each_read_is_recorded_with_who_what_and_from_where(api):
    idn, _ = register(api)
    enroll(api, idn)
    assert api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api, "collector")).status_code == 200
    assert api.get(f"/v1/persons/{idn}/history", headers=h(api, "bureau")).status_code == 200
    assert api.get("/v1/reports/payable", params={"region": "500110", "year": 2021, "format": "csv"},
                   headers=h(api, "bureau")).status_code == 200
    got = reads(api)
    assert [(r["token"], r["role"], r["what"]) for r in got] == [
        ("bureau-all", "bureau", "report:payable"), ("bureau-all", "bureau", "history"),
        ("collector-all", "collector", "coverage")]
    masked = idn[:6] + "********" + idn[-4:]
    assert got[2]["subject"] == f"{masked} year 2021" and got[2]["region"] == "500110001001"
    assert got[0]["subject"].endswith("as csv") and got[0]["region"] == "500110"
    assert all(r["client"] == "testclient" and r["at"] for r in got)
    assert idn not in json.dumps(got)  # never the full identity number
    assert reads(api, token="collector-all")[0]["what"] == "coverage"
    assert reads(api, since="2999-01-01T00:00:00+08:00") == []


def test_the_console_person_page_and_report_downloads_are_recorded(api):
    idn, _ = register(api)
    client = signed_in(api, "bureau")
    found = client.post("/console/persons/search", data={"id_number": idn, "csrf": client.csrf}, follow_redirects=False)
    assert client.get(found.headers["location"]).status_code == 200
    assert client.get("/console/unenrolled-assisted", params={"region": "500110", "year": "2021",
                                                              "format": "xlsx"}).status_code == 200
    got = reads(api)
    assert [(r["what"], r["token"]) for r in got[:2]] == [("report:unenrolled-assisted", "bureau-all"),
                                                          ("person_page", "bureau-all")]
    assert got[0]["subject"].endswith("as xlsx")
    refused = client.get("/console/subsidies", params={"region": "500110", "year": "2021", "format": "pdf"})
    assert refused.status_code == 400 and "<strong>format</strong>" in refused.text
    assert len(reads(api)) == len(got)  # a report refused before it was made is no read


def test_only_auditors_read_it_and_each_within_its_regions(api):
    inside, _ = register(api)
    outside, _ = register(api, region=OTHER_VILLAGE, born=date(1971, 1, 1))
    for idn in (inside, outside):
        api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api, "collector"))
    for role in ("collector", "bureau"):
        assert api.get("/v1/audit/reads", headers=h(api, role)).status_code == 403
    scoped = Tokens(api.ledger).create("auditor", ["500114"], None, "auditor-qianjiang")[1]
    r = api.get("/v1/audit/reads", headers={"Authorization": f"Bearer {scoped}"})
    assert r.status_code == 200 and [x["region"] for x in r.json()["reads"]] == [OTHER_VILLAGE]
    for bad in ({"since": "yesterday"}, {"limit": 0}, {"limit": 10_001}, {"token": "x" * 65}):
        assert api.get("/v1/audit/reads", params=bad, headers=h(api)).status_code in (400, 422), bad


def test_the_command_line_shows_the_same_reads(api, tmp_path):
    idn, _ = register(api)
    api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api, "collector"))
    shown = reads(api)  # the app writes its pending reads when an auditor asks
    done = run_ledger(tmp_path, ledger_environ(api.ledger.env), "audit", "reads", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == shown
    bad = run_ledger(tmp_path, ledger_environ(api.ledger.env), "audit", "reads", "--since", "2021-03-01")
    assert bad.returncode == 2 and "--since" in bad.stderr


def test_the_console_page_lists_the_reads_for_auditors_only(api):
    idn, _ = register(api)
    api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api, "collector"))
    auditor = signed_in(api, "auditor")
    page = auditor.get("/console/audit-reads")
    assert page.status_code == 200 and "collector-all" in page.text and "coverage" in page.text
    assert idn not in page.text and idn[:6] + "********" + idn[-4:] in page.text
    assert 'href="/console/audit-reads"' in page.text
    assert "collector-all" not in auditor.get("/console/audit-reads", params={"token": "bureau-all"}).text.split(
        "<tbody>")[1]
    assert auditor.get("/console/audit-reads", params={"since": "soon"}).status_code == 400
    bureau = signed_in(api, "bureau")
    assert bureau.get("/console/audit-reads").status_code == 403
    assert 'href="/console/audit-reads"' not in bureau.get("/console").text
