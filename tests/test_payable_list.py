"""The 应征缴明细 for the tax bureau (004 「将应征缴明细信息及时传递给税务部门」, 000 「资助标识和数据传送」):
per enrollment, the full identity number, tier, contribution, subsidy with its mark, payable, paid
and outstanding; JSON, CSV and XLSX through the API and the CLI, region-scoped, on both backends.

Oracle independent of the code: Qijiang's prices and subsidies (003: 280.00 on tier 1; 低保 100%;
巩固脱贫户 50%) worked by hand into the literal amounts below; identity numbers with literal check
characters computed outside the project (GB 11643 MOD 11-2).
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import openpyxl

from conftest import ledger_environ
from test_api import assert_problem, enroll, h, pay, register

PLAIN = "500110198003030217"
DIBAO = "500110198003030225"
HALF = "500110198003030233"
CANCELLED = "500110198003030241"
QIANJIANG = "500114198003030255"


def certify(api, idn, category, effective_on="2020-01-01"):
    r = api.post(f"/v1/persons/{idn}/identities", json={"category": category, "action": "certify",
                                                         "effective_on": effective_on}, headers=h(api, "bureau"))
    assert r.status_code == 201, r.text


def setup_county(api):
    for idn in (PLAIN, DIBAO, HALF, CANCELLED):
        register(api, id_number=idn)
    register(api, id_number=QIANJIANG, region="500114001001")
    certify(api, DIBAO, "dibao")
    certify(api, HALF, "巩固脱贫户")
    for idn in (PLAIN, DIBAO, CANCELLED, QIANJIANG):
        assert enroll(api, idn).status_code == 201
    assert enroll(api, HALF, enrolled_on="2020-12-01").status_code == 201
    assert pay(api, PLAIN, key="plain", amount="100.00").status_code == 201
    r = api.post(f"/v1/enrollments/{CANCELLED}/2021/cancel", json={"reason": "moved", "effective_on": "2020-11-20"},
                 headers=h(api, "bureau"))
    assert r.status_code == 201, r.text


def payable(api, role="bureau", **params):
    return api.get("/v1/reports/payable", params={"region": "500110", "year": 2021, "as_of": "2021-01-10", **params},
                   headers=h(api, role))


def test_each_enrollment_with_its_payable_and_subsidy_mark(api):
    setup_county(api)
    r = payable(api)
    assert r.status_code == 200, r.text
    body = r.json()
    got = [(row["id_number"], row["subsidy_mark"], row["subsidy"], row["subsidy_category"], row["individual_payable"],
            row["paid"], row["outstanding"], row["status"]) for row in body["rows"]]
    assert got == [
        (PLAIN, 0, "0.00", "", "280.00", "100.00", "180.00", "partially_paid"),
        (DIBAO, 1, "280.00", "dibao", "0.00", "0.00", "0.00", "paid"),
        (HALF, 1, "140.00", "poverty_consolidated", "140.00", "0.00", "140.00", "enrolled"),
    ]  # CANCELLED left out; QIANJIANG is of another county
    assert {row["contribution"] for row in body["rows"]} == {"280.00"}
    total = body["total"]
    assert (body["persons"], total["contribution"], total["subsidy"], total["individual_payable"], total["paid"],
            total["outstanding"], total["subsidy_mark"]) == (3, "840.00", "420.00", "420.00", "100.00", "320.00", 2)
    assert body["rows"][1]["funder_name"] and body["rows"][1]["subsidy_category_name"]
    # As of 2020-11-15, HALF was not yet enrolled (2020-12-01) and CANCELLED still was.
    early = payable(api, as_of="2020-11-15").json()
    assert [row["id_number"] for row in early["rows"]] == [PLAIN, DIBAO, CANCELLED]


def test_the_files_carry_the_same_lines_with_identity_numbers_as_text(api):
    setup_county(api)
    text = payable(api, format="csv").content.decode("utf-8-sig")
    lines = list(csv.DictReader(io.StringIO(text)))
    assert [(r["id_number"], r["outstanding"]) for r in lines] == [
        (PLAIN, "180.00"), (DIBAO, "0.00"), (HALF, "140.00"), ("", "320.00")]
    sheet = openpyxl.load_workbook(io.BytesIO(payable(api, format="xlsx").content)).active
    header = [c.value for c in sheet[1]]
    ids = [row[header.index("id_number")] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert ids[:3] == [PLAIN, DIBAO, HALF]  # strings: an 18-digit number would lose its last digits as a number


def test_only_the_bureau_auditor_and_admin_in_their_regions_read_it(api):
    setup_county(api)
    assert_problem(payable(api, role="collector"), 403)
    assert_problem(payable(api, role="scoped"), 403)
    assert_problem(payable(api, role="scoped_bureau", region="500114"), 403)
    assert payable(api, role="scoped_bureau").status_code == 200
    assert payable(api, role="auditor").status_code == 200


def test_the_cli_writes_the_same_list(api, store_env, tmp_path):
    setup_county(api)
    out = tmp_path / "payable.json"
    done = subprocess.run([sys.executable, "-m", "api.cli", "report", "payable", "--region", "500110", "--year", "2021",
                           "--as-of", "2021-01-10", "--format", "json", "--output", str(out)],
                          env=ledger_environ(store_env), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["rows"] == payable(api).json()["rows"]
