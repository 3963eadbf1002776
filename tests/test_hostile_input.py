"""What a hostile or careless client sends, through the API and the CLI, on SQLite and PostgreSQL.

Each test sends the bad input the way a client would and proves three things: the answer is a
problem+json naming the field (never a 500), nothing was written, and nothing about a person
outside the caller's regions came back. The oracle is the store itself (its event count and the
events in it) and the bytes the client received, never the validation code under test.
"""

from __future__ import annotations

import csv
import io
import json
import random
import subprocess
import sys
import unicodedata
from datetime import date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import openpyxl
import pytest

from conftest import BUREAU, CLERK, event_count, ledger_environ, make_id
from domain import events as ev
from domain.dates import CHINA
from domain.ledger import UnitOfWork
from domain.person import person_id
from test_api import CHUXIONG, OTHER_VILLAGE, VILLAGE, assert_problem, enroll, h, pay, register

ROOT = Path(__file__).resolve().parents[1]
# A number whose check character is the standard's own worked example (SPEC.md), not computed here.
SPEC_ID = "11010519491231002X"
REGIONS = ["500110", "500114", "500237103", "430623110", "532301"]
REPORT_KINDS = ["enrollment", "subsidies", "collections", "unenrolled-assisted", "payable"]


def every_report_answers(api) -> None:
    for region in REGIONS:
        for kind in REPORT_KINDS:
            for fmt in ("json", "csv", "xlsx"):
                r = api.get(f"/v1/reports/{kind}", params={"region": region, "year": 2021, "format": fmt}, headers=h(api))
                assert r.status_code == 200, (kind, region, fmt, r.text[:300])


def refused(api, response, status, field, before):
    body = assert_problem(response, status, field)
    assert event_count(api.ledger) == before, f"a refused request wrote something: {body}"
    return body


# -- 1. text that corrupts the store -------------------------------------------------------------

BAD_TEXT = {
    "NUL": "张\x00三",
    "line break": "张\n三",
    "tab": "张\t三",
    "bidi override": "\u202e三张",
    "zero-width only": "\u200b\u200b",
    "Hangul filler only": "\u3164",
    "bell": "R\x07",
    "line separator": "张\u2028三",
    "private use": "张\ue000",
}


@pytest.mark.parametrize("what", BAD_TEXT)
def test_control_and_invisible_characters_are_refused_in_every_text_field(api, what):
    text = BAD_TEXT[what]
    idn, _ = register(api)
    enroll(api, idn)
    paid = pay(api, idn, key="ok-1", amount="10.00")
    payment_id = paid.json()["payment_id"]
    before = event_count(api.ledger)
    refused(api, register(api, name=text)[1], 400, "name", before)
    refused(api, pay(api, idn, key="t-1", channel="cash", receipt_no=text), 400, "receipt_no", before)
    refused(api, pay(api, idn, key="t-2", transaction_id=text), 400, "transaction_id", before)
    for field in ("department", "reference"):
        r = api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                     json={"category": "dibao", "action": "certify", "effective_on": "2020-01-01", field: text})
        refused(api, r, 400, field, before)
    r = api.post(f"/v1/persons/{idn}/payments/{payment_id}/void", headers=h(api, "bureau"), json={"reason": text})
    refused(api, r, 400, "reason", before)
    every_report_answers(api)


@pytest.mark.parametrize("field, limit", [("name", 50), ("receipt_no", 64), ("transaction_id", 64)])
def test_every_text_field_has_a_length_bound(api, field, limit):
    idn, _ = register(api)
    enroll(api, idn)
    before = event_count(api.ledger)
    random_text = "".join(random.Random(7).choice("ABCDEFGHJK0123456789") for _ in range(100_000))
    for text in ("x" * (limit + 1), random_text):
        if field == "name":
            r = register(api, name=text)[1]
        else:
            r = pay(api, idn, key=f"len-{len(text)}", channel="cash", **{"receipt_no": "R-1", field: text})
        body = refused(api, r, 400, field, before)
        assert f"at most {limit}" in body["detail"]
    if field == "name":
        at_limit = register(api, name="名" * limit)[1]
    else:
        at_limit = pay(api, idn, key="at-limit", amount="1.00", channel="cash", **{"receipt_no": "R-1", field: "9" * limit})
    assert at_limit.status_code == 201, at_limit.text


def test_projection_survives_events_stored_before_the_text_rule(api, tmp_path):
    """Events as an older ledger stored them (a NUL in a name, a megabyte of receipt number) are in
    the log for good: every report still answers, and `ledger rebuild` still finishes."""
    ledger = api.ledger
    idn, _ = register(api)
    enroll(api, idn)
    uow = UnitOfWork(ledger, BUREAU)
    person = uow.person(person_id("resident_id", idn))
    moment = datetime(2020, 11, 5, 10, tzinfo=CHINA)
    uow.emit(person, ev.RegistrationCorrected, moment, corrects=1, reason="imported", name="张\x00三",
             region=None, hukou_registered_on=None)
    uow.emit(person, ev.IdentityCertified, moment, category="dibao", effective_on=date(2020, 1, 1),
             department="\x00", reference=None)
    uow.emit(person, ev.PaymentRecorded, moment, year=2021, payment_id="old-1", amount_fen=1000, paid_at=moment,
             channel="cash", receipt_no="R\x00" + "9" * 1_000_000, transaction_id=None, idempotency_key=None)
    uow.commit()
    every_report_answers(api)
    r = api.get("/v1/reports/collections", params={"region": "500110", "year": 2021, "as_of": "2020-12-31"}, headers=h(api))
    receipts = [row["cash_receipts"] for row in r.json()["rows"] if row["cash_receipts"]]
    assert receipts and all(len(x) <= 200 and "\x00" not in x for x in receipts)
    environ = ledger_environ(api.ledger.env)
    for args in (["rebuild", "--quiet"], ["report", "enrollment", "--region", "500110", "--year", "2021"]):
        done = subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=tmp_path, env=environ,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])


# -- 2. a daily file with a line the CSV reader cannot read ------------------------------------------

HEADER = ["缴费流水号", "证件号码", "姓名", "缴费年度", "档次", "缴费金额", "缴费时间", "缴费渠道", "征收点", "票据号"]


def seed_people(ledger, n, region=VILLAGE, born=date(1980, 1, 1)):
    people = []
    with ledger.batch(size=1000):
        for i in range(n):
            idn = make_id(born + timedelta(days=i // 1000), seq=i)
            ledger.register(CLERK, id_number=idn, name=f"名{i}", region=region)
            ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
            people.append(idn)
    return people


def daily_file(rows, encoding="utf-8"):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def payment_rows(people, prefix="TX"):
    return [[f"{prefix}-{i}", idn, f"名{i}", 2021, 1, "10.00", "2020-11-20 10:00:00", "微信", "QJ-001", ""]
            for i, idn in enumerate(people)]


def stored_payments(ledger):
    """(count, fen) of every PaymentRecorded in the store, read from the log itself."""
    head = ledger.store.recorder.max_notification_id() or 0
    n = fen = 0
    for _, topic, state in ledger.store.read_log(1, head, head):
        if topic.endswith("PaymentRecorded"):
            e = ledger.store.mapper.decode(topic, state)
            n, fen = n + 1, fen + e.amount_fen
    return n, fen


def test_an_overlong_field_is_one_malformed_line_and_the_rest_is_posted(api, tmp_path):
    people = seed_people(api.ledger, 2300)
    rows = payment_rows(people)
    bad_line = 2101  # past the first transaction of 2,000 rows
    rows[bad_line - 2][2] = "长" * 200_000
    r = api.post("/v1/imports/collections", headers=h(api, "bureau"), content=daily_file(rows))
    assert r.status_code == 200, r.text[:500]
    answer = r.json()
    outcome = {row["line"]: row["outcome"] for row in answer["rows"]}
    assert outcome[bad_line] == "malformed" and "cannot be read" in answer["rows"][bad_line - 2]["message"]
    assert answer["counts"]["posted"] == 2299 and sum(answer["counts"].values()) == 2300
    assert stored_payments(api.ledger) == (2299, 2299 * 1000)
    # The CLI: the same file again, every row already posted but the unreadable one; no traceback.
    path = tmp_path / "daily.csv"
    path.write_bytes(daily_file(rows))
    done = subprocess.run([sys.executable, "-m", "api.cli", "import", "collections", str(path), "--quiet"],
                          cwd=tmp_path, env=ledger_environ(api.ledger.env), capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "already_posted" in done.stdout and "2,299" in done.stdout and "malformed" in done.stdout
    assert stored_payments(api.ledger) == (2299, 2299 * 1000)


# -- 3. dates outside what can be true ---------------------------------------------------------------


def test_business_dates_outside_their_plausible_range_are_refused(api):
    idn, _ = register(api)
    enroll(api, idn)
    newborn, r = register(api, born=date(2020, 12, 1))
    assert r.status_code == 201
    assert enroll(api, newborn, cohort="newborn", enrolled_on="2020-12-05").status_code == 201
    chuxiong, _ = register(api, region=CHUXIONG)
    enroll(api, chuxiong, enrolled_on="2020-10-01")
    before = event_count(api.ledger)
    cases = [
        (pay(api, idn, key="d1", paid_at="1970-01-01T00:00:00+08:00"), 400, "paid_at"),  # before birth
        (pay(api, idn, key="d2", paid_at="2020-10-01T10:00:00+08:00"), 422, "paid_at"),  # before 2020-11-02
        (pay(api, idn, key="d3", paid_at="2099-01-01T10:00:00+08:00"), 400, "paid_at"),
        (pay(api, idn, key="d4", paid_at="2022-01-05T10:00:00+08:00"), 422, "paid_at"),  # after the coverage
        (pay(api, newborn, key="d5", paid_at="2020-11-20T10:00:00+08:00"), 400, "paid_at"),  # before birth
        (pay(api, chuxiong, key="d6", amount="280", paid_at="2021-04-01T10:00:00+08:00"), 422, "paid_at"),
        (pay(api, chuxiong, key="d7", amount="280", paid_at="2000-01-01T10:00:00+08:00"), 422, "paid_at"),
        (enroll(api, idn, year=2021, tier=2, enrolled_on="2099-01-01"), 400, "enrolled_on"),
        (enroll(api, idn, year=2021, tier=2, enrolled_on="1900-01-01"), 400, "enrolled_on"),
        (enroll(api, newborn, cohort="newborn", tier=2, enrolled_on="2020-11-01"), 400, "enrolled_on"),
        (api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                  json={"category": "dibao", "action": "certify", "effective_on": "1800-01-01"}), 400, "effective_on"),
        (api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                  json={"category": "dibao", "action": "certify", "effective_on": "2099-01-01"}), 400, "effective_on"),
        (register(api, born=date(2099, 1, 1))[1], 400, "id_number"),
        (register(api, hukou_registered_on="2099-01-01")[1], 400, "hukou_registered_on"),
        (api.post(f"/v1/enrollments/{idn}/2021/cancel", headers=h(api),
                  json={"reason": "death", "effective_on": "2099-01-01"}), 400, "effective_on"),
        (api.post(f"/v1/enrollments/{idn}/2021/cancel", headers=h(api),
                  json={"reason": "death", "effective_on": "1990-01-01"}), 400, "effective_on"),
    ]
    for n, (response, status, field) in enumerate(cases):
        assert response.status_code == status, (n, response.text)
        refused(api, response, status, field, before)
    # The Chuxiong payment refused as late is not let in by dating it in 2000: nothing covers the person.
    assert api.get(f"/v1/persons/{chuxiong}/coverage", params={"year": 2021}, headers=h(api)).json()["paid"] == "0.00"


# -- 4. look-alike digits, timestamps, duplicate keys --------------------------------------------------

FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


def test_look_alike_digits_never_make_a_second_person_or_an_amount(api):
    first = register(api, id_number=SPEC_ID)[1]
    assert first.status_code == 201
    idn = SPEC_ID
    enroll(api, idn)
    before = event_count(api.ledger)
    for variant in (idn.translate(FULL_WIDTH), idn[:17].translate(ARABIC_INDIC) + "X"):
        body = refused(api, register(api, id_number=variant)[1], 400, "id_number", before)
        assert "0-9" in body["detail"]
        refused(api, enroll(api, variant), 400, "id_number", before)
    for n, amount in enumerate(("１００.００", "٨٤", "84．00")):
        refused(api, pay(api, idn, key=f"a-{n}", amount=amount), 400, "amount", before)
    body = refused(api, pay(api, idn, key="big", amount="99999999999999"), 400, "amount", before)
    assert "too large" in body["detail"] and "decimals" not in body["detail"]
    for n, paid_at in enumerate((1605000000, "1605000000", "2020-11-20 10:00:00+08:00", "2020-11-20T10:00:00")):
        refused(api, pay(api, idn, key=f"t-{n}", paid_at=paid_at), 400, "paid_at", before)
    r = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021, "known_at": "1605000000"}, headers=h(api))
    assert_problem(r, 400, "known_at")
    r = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021, "on": "20210101"}, headers=h(api))
    assert_problem(r, 400, "on")
    duplicate = ('{"id_number": "%s", "year": 2021, "amount": "10.00", "amount": "280.00", '
                 '"paid_at": "2020-11-20T10:00:00+08:00", "channel": "wechat"}' % idn)
    r = api.post("/v1/payments", content=duplicate.encode(),
                 headers=h(api, **{"Idempotency-Key": "dup", "content-type": "application/json"}))
    refused(api, r, 400, "amount", before)
    # Nested duplicates too, and in every JSON endpoint.
    r = api.post("/v1/persons", content=b'{"id_number": "x", "name": "a", "name": "b", "region": "500110001001"}',
                 headers=h(api, **{"content-type": "application/json"}))
    refused(api, r, 400, "name", before)


# -- 5. refusals that say nothing about a person outside the caller's regions ----------------------------


def test_a_refusal_says_nothing_about_a_person_outside_the_callers_regions(api):
    mother, _ = register(api, region=OTHER_VILLAGE, born=date(1990, 3, 3), name="钱母")
    other_mother, _ = register(api, region=VILLAGE, born=date(1991, 4, 4), name="孙母")
    outside, r = register(api, region=OTHER_VILLAGE, born=date(2015, 5, 5), name="钱八", mother_id_number=mother)
    assert r.status_code == 201
    enroll(api, outside)
    paid = pay(api, outside, key="o-1", amount="10.00")
    before = event_count(api.ledger)
    secrets_ = ["钱八", "钱母", "500114", mother, mother[6:14], paid.json()["payment_id"]]
    attempts = [
        register(api, role="scoped", id_number=outside, name="冒名", region=VILLAGE)[1],
        register(api, role="scoped", id_number=outside, name="冒名", region=VILLAGE, mother_id_number=other_mother)[1],
        enroll(api, outside, role="scoped", tier=2),
        pay(api, outside, key="o-2", role="scoped"),
        api.post(f"/v1/persons/{outside}/identities", headers=h(api, "scoped_bureau"),
                 json={"category": "dibao", "action": "certify", "effective_on": "2020-01-01"}),
        api.post(f"/v1/enrollments/{outside}/2021/cancel", headers=h(api, "scoped_bureau"),
                 json={"reason": "death", "effective_on": "2021-01-01"}),
        api.post(f"/v1/persons/{outside}/payments/{paid.json()['payment_id']}/void", headers=h(api, "scoped_bureau"),
                 json={"reason": "posted in error"}),
        api.get(f"/v1/persons/{outside}/coverage", params={"year": 2021}, headers=h(api, "scoped")),
        api.get(f"/v1/persons/{outside}/history", headers=h(api, "scoped")),
    ]
    for n, r in enumerate(attempts):
        assert r.status_code == 403, (n, r.text)
        assert_problem(r, 403)
        for secret in secrets_:
            assert secret not in r.text, (n, secret, r.text)
    assert event_count(api.ledger) == before
    # Inside the caller's regions a conflict is explained, but a parent's number is still masked.
    inside, _ = register(api, region=VILLAGE, born=date(2016, 6, 6), mother_id_number=other_mother)
    third, _ = register(api, region=VILLAGE, born=date(1992, 2, 2))
    body = refused(api, register(api, role="scoped", id_number=inside, mother_id_number=third)[1], 409,
                   "mother_id_number", event_count(api.ledger))
    assert other_mother not in body["detail"] and other_mother[:6] in body["detail"] and other_mother[-4:] in body["detail"]


# -- 6. a daily file cannot write outside the token's regions ---------------------------------------------


def test_a_scoped_bureau_import_posts_nothing_outside_its_regions(api):
    inside = seed_people(api.ledger, 1, VILLAGE, date(1981, 1, 1))[0]
    outside = seed_people(api.ledger, 1, OTHER_VILLAGE, date(1982, 2, 2))[0]
    before = stored_payments(api.ledger)
    rows = [["TX-IN", inside, "名0", 2021, 1, "10.00", "2020-11-20 10:00:00", "微信", "QJ-001", ""],
            ["TX-OUT", outside, "别人", 2021, 1, "10.00", "2020-11-20 10:00:00", "微信", "QJ-001", ""]]
    r = api.post("/v1/imports/collections", headers=h(api, "scoped_bureau"), content=daily_file(rows))
    assert r.status_code == 200, r.text
    outcomes = {row["transaction_id"]: row for row in r.json()["rows"]}
    assert outcomes["TX-IN"]["outcome"] == "posted"
    assert outcomes["TX-OUT"]["outcome"] == "out_of_scope" and "名0" not in outcomes["TX-OUT"]["message"]
    assert r.json()["counts"]["out_of_scope"] == 1
    assert stored_payments(api.ledger) == (before[0] + 1, before[1] + 1000)
    # The same file from an unscoped bureau token posts the other row: it was refused for scope alone.
    r = api.post("/v1/imports/collections", headers=h(api, "bureau"), content=daily_file(rows))
    assert {row["transaction_id"]: row["outcome"] for row in r.json()["rows"]} == {
        "TX-IN": "already_posted", "TX-OUT": "name_mismatch"}


# -- 8. exports that would attack the reader ---------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "=1+1"]


def test_exports_never_carry_a_live_formula(api, tmp_path):
    idn, r = register(api, name=FORMULAS[0])
    assert r.status_code == 201
    api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
             json={"category": "dibao", "action": "certify", "effective_on": "2020-01-01"})
    payer, _ = register(api, born=date(1977, 7, 7))
    enroll(api, payer)
    assert pay(api, payer, key="f-1", amount="10.00", channel="cash", receipt_no="=1+1").status_code == 201
    for kind, column in (("unenrolled-assisted", "name"), ("collections", "cash_receipts")):
        params = {"region": "500110", "year": 2021, "as_of": "2020-12-31"}
        text = api.get(f"/v1/reports/{kind}", params={**params, "format": "csv"}, headers=h(api)).content.decode("utf-8-sig")
        table = list(csv.DictReader(io.StringIO(text)))
        cells = [row[column] for row in table if row[column]]
        assert cells and all(not c.startswith(("=", "+", "-", "@")) for c in cells), cells
        assert any(c.startswith("'=") for c in cells)
        book = openpyxl.load_workbook(io.BytesIO(api.get(f"/v1/reports/{kind}", params={**params, "format": "xlsx"},
                                                          headers=h(api)).content))
        sheet = book.active
        header = [c.value for c in sheet[1]]
        formula_like = [c for c in sheet.iter_rows(min_row=2) for c in [c[header.index(column)]]
                        if isinstance(c.value, str) and c.value.startswith("=")]
        assert formula_like, "the formula-like text is kept, as text"
        assert all(c.data_type == "s" for c in formula_like), [(c.value, c.data_type) for c in formula_like]
    # The import's --report file, through the CLI.
    rows = [[f, payer, "陈七", 2021, 1, "1.00", "2020-11-20 10:00:00", "微信", f, ""] for f in FORMULAS[1:]]
    path, report = tmp_path / "daily.csv", tmp_path / "report.csv"
    path.write_bytes(daily_file(rows))
    done = subprocess.run([sys.executable, "-m", "api.cli", "import", "collections", str(path), "--report", str(report),
                           "--quiet"], cwd=tmp_path, env=ledger_environ(api.ledger.env), capture_output=True, text=True,
                          timeout=120)
    assert "Traceback" not in done.stderr, done.stderr
    written = list(csv.DictReader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert len(written) == len(FORMULAS) - 1
    for row in written:
        for column in ("transaction_id", "collection_point"):
            assert row[column].startswith("'"), row


# -- 7. identity numbers in logs, as `ledger serve` writes them ------------------------------------------


def test_identity_numbers_never_reach_the_served_log_in_any_spelling(tmp_path):
    import httpx

    from served import ledger_env, serving, token

    env = ledger_env(tmp_path)
    secret = token(tmp_path, env, "admin", "probe")
    idn = SPEC_ID
    spellings = [" " + idn, "\t" + idn, "\n" + idn, idn + "1", "0" + idn, idn.lower(), idn.translate(FULL_WIDTH),
                 idn[:17].translate(ARABIC_INDIC) + "X", "x" + idn + "y"]
    with open(tmp_path / "serve.log", "w") as log, serving(tmp_path, env, output=log) as base:
        auth = {"Authorization": f"Bearer {secret}"}
        for s in spellings:
            httpx.get(f"{base}/v1/persons/{quote(s, safe='')}/coverage?year=2021", headers=auth)
            httpx.get(f"{base}/v1/reports/enrollment?region={quote(s, safe='')}&year=2021", headers=auth)
    text = (tmp_path / "serve.log").read_text(encoding="utf-8", errors="replace")
    assert text.count("GET /v1/persons/") >= len(spellings), text[-3000:]
    readable = unicodedata.normalize("NFKC", text)
    for s in spellings:
        assert quote(s, safe="") not in text, s
    for needle in (idn, idn[6:14], idn[:17], quote(idn.translate(FULL_WIDTH), safe="")[:30]):
        assert needle not in text and needle not in readable, (needle, text[-3000:])


def test_the_projection_logger_and_tracebacks_are_masked(caplog):
    import logging

    from api import logs

    logs.install()
    caplog.set_level(logging.INFO)
    idn = SPEC_ID
    logging.getLogger("ledger.projection").error("person %s cannot be projected", idn)
    logging.getLogger("ledger.projection.deep").warning(f"inline {idn.translate(FULL_WIDTH)}")
    try:
        raise KeyError(f"no stream for {idn}")
    except KeyError:
        logging.getLogger("some.library").exception("failed")
    out = "\n".join(caplog.text.splitlines()) + "\n".join(r.exc_text or "" for r in caplog.records)
    assert "Traceback" in out and "no stream for 110105" in out
    assert idn not in out and idn[6:14] not in unicodedata.normalize("NFKC", out)


# -- the probe's corpus: many bad inputs, one rule -----------------------------------------------------------


def corpus(idn, payment_id):
    """(method, path, json body or raw bytes, headers extra): each must be refused, 4xx, writing nothing."""
    ok_pay = {"id_number": idn, "year": 2021, "amount": "10.00", "paid_at": "2020-11-20T10:00:00+08:00",
              "channel": "wechat"}
    ok_person = {"id_number": make_id(date(1988, 8, 8)), "name": "赵九", "region": VILLAGE}
    bodies = []
    for key, values in {
        "id_number": [None, 1, 1.5, True, [], {}, "", " ", "1" * 18, "x" * 10_000, SPEC_ID + "\x00", "１" * 18],
        "name": [None, 1, [], "", "\x00", "a\u202eb", "\u200d", "n" * 51, "\ufffe"],
        "region": [None, 500110001001, "500110001001\x00", "５００１１０００１００１", "500110", "x" * 12, "999999999999"],
        "hukou_registered_on": [1, "2021-13-01", "20210101", "2099-01-01", "1600-01-01", "2021-02-30"],
        "mother_id_number": [1, "", "bad", SPEC_ID[:17] + "1"],
        "document_type": ["", "passport", 1],
    }.items():
        for v in values:
            bodies.append(("POST", "/v1/persons", {**ok_person, key: v}, {}))
    counter = iter(range(10**6))
    for key, values in {
        "amount": [None, "", " ", "1e3", "NaN", "Infinity", -1, 0, "0.00", "10.001", 1e308,
                   "１０", "10,00", "¥10", "10元", [], {}, True, "99999999999999"],
        "paid_at": [None, "", 0, 1605000000, "2020-11-20", "2020-11-20T10:00:00", "2020-11-20T25:00:00+08:00",
                    "yesterday", "2099-01-01T00:00:00+08:00", "1970-01-01T00:00:00Z"],
        "channel": [None, "", "WECHAT", "pigeon", 1],
        "year": [None, "2021", 2021.0, 1999, 2101, True, 2022],
        "receipt_no": [1, "\x00", "r" * 65],
        "transaction_id": [1, "", "\x00", "t" * 65],
        "id_number": [None, "", "abc", make_id(date(1999, 9, 9))],
    }.items():
        for v in values:
            bodies.append(("POST", "/v1/payments", {**ok_pay, key: v}, {"Idempotency-Key": f"c-{key}-{next(counter)}"}))
    bodies += [
        ("POST", "/v1/payments", ok_pay, {}),  # no key
        ("POST", "/v1/payments", ok_pay, {"Idempotency-Key": "x" * 256}),
        ("POST", "/v1/payments", {**ok_pay, "extra": 1}, {"Idempotency-Key": "extra"}),
        ("POST", "/v1/payments", b"[]", {"Idempotency-Key": "list", "content-type": "application/json"}),
        ("POST", "/v1/payments", b"null", {"Idempotency-Key": "null", "content-type": "application/json"}),
        ("POST", "/v1/payments", b'{"id_number": "\\u0000"}', {"Idempotency-Key": "nul", "content-type": "application/json"}),
        ("POST", "/v1/payments", b"\xff\xfe{}", {"Idempotency-Key": "bom", "content-type": "application/json"}),
        ("POST", "/v1/payments", b'{"a": 1, "a": 2}', {"Idempotency-Key": "dup", "content-type": "application/json"}),
    ]
    for key, values in {
        "year": [None, "2021", 1999, 2023],
        "tier": [None, 0, 3, "1", 1.0, True],
        "cohort": ["", "retired", 1],
        "enrolled_on": ["", "2099-01-01", "1900-01-01", 20201101, "2020-11-01T00:00:00"],
    }.items():
        for v in values:
            bodies.append(("POST", "/v1/enrollments", {"id_number": idn, "year": 2021, "tier": 2, key: v}, {}))
    for key, values in {
        "category": ["", "富豪", 1, "\x00"],
        "action": ["", "grant", None],
        "effective_on": ["", "1800-01-01", "2099-01-01", 0],
        "department": ["\x00", "d" * 101, 1],
        "reference": ["\u202e", "r" * 101],
    }.items():
        for v in values:
            body = {"category": "dibao", "action": "certify", "effective_on": "2020-01-01", key: v}
            bodies.append(("POST", f"/v1/persons/{idn}/identities", body, {}))
    for body in ({"reason": "bored", "effective_on": "2021-01-01"}, {"reason": "death", "effective_on": "2099-01-01"},
                 {"reason": "death", "effective_on": 1}, {"reason": "death"}):
        bodies.append(("POST", f"/v1/enrollments/{idn}/2021/cancel", body, {}))
    for reason in ("", " ", "\x00", "r" * 501, 1):
        bodies.append(("POST", f"/v1/persons/{idn}/payments/{payment_id}/void", {"reason": reason}, {}))
    bodies.append(("POST", f"/v1/persons/{idn}/payments/no-such/void", {"reason": "x"}, {}))
    look_alikes = [idn + "1", "0" + idn, idn.translate(FULL_WIDTH), idn[:17].translate(ARABIC_INDIC) + "1",
                   idn + "\x00", "\u202e" + idn, idn[:10], "../" + idn, "%s" % ("9" * 18)]
    for spelling in look_alikes:
        quoted = quote(spelling, safe="")
        bodies += [("GET", f"/v1/persons/{quoted}/coverage?year=2021", None, {}),
                   ("GET", f"/v1/persons/{quoted}/history", None, {}),
                   ("POST", f"/v1/persons/{quoted}/identities",
                    {"category": "dibao", "action": "certify", "effective_on": "2020-01-01"}, {})]
    for kind in REPORT_KINDS:
        for query in ("region=5001%0A10&year=2021", "region=%EF%BC%95%EF%BC%90&year=2021", "region=500110&year=1999",
                      "region=500110&year=2021&as_of=2021-02-30", "region=500110&year=2021&known_at=1609459200",
                      "region=&year=2021", "region=500110&year=2021&format=xls"):
            bodies.append(("GET", f"/v1/reports/{kind}?{query}", None, {}))
    for path in ("/v1/persons/%00/coverage?year=2021", f"/v1/persons/{idn}/coverage?year=20210",
                 f"/v1/persons/{idn}/coverage?year=2021&on=2021-02-30", f"/v1/persons/{idn}/coverage?year=2021&known_at=1",
                 "/v1/reports/enrollment?region=5001%0A10&year=2021", "/v1/reports/enrollment?region=500110&year=2021&format=pdf",
                 f"/v1/persons/{idn}/history?known_at=2021-01-01T00:00:00"):
        bodies.append(("GET", path, None, {}))
    return bodies


def test_the_probe_corpus_is_refused_with_problems_and_writes_nothing(api):
    idn, _ = register(api)
    enroll(api, idn)
    paid = pay(api, idn, key="seed", amount="10.00")
    requests = corpus(idn, paid.json()["payment_id"])
    assert len(requests) >= 200
    failures = []
    for method, path, body, extra in requests:
        before = event_count(api.ledger)
        kwargs = {"headers": h(api, **extra)}
        if isinstance(body, bytes):
            kwargs["content"] = body
        elif body is not None:
            kwargs["json"] = body
        r = api.request(method, path, **kwargs)
        ok = 400 <= r.status_code < 500 and r.headers.get("content-type", "").startswith("application/problem+json")
        if not ok or event_count(api.ledger) != before:
            failures.append((method, path, json.dumps(body, default=repr, ensure_ascii=False)[:200] if body else None,
                             r.status_code, r.text[:200]))
    assert not failures, "\n".join(map(str, failures))
    every_report_answers(api)


def test_a_student_paying_after_the_academic_year_is_not_refused_on_an_inferred_date(api):
    """Qijiang prices students by the academic year 2020-09..2021-08 but states no benefit dates for
    them: the season for a payment runs to the coverage year's end, not to an inferred date."""
    idn, _ = register(api, born=date(2001, 3, 3))
    assert enroll(api, idn, cohort="student", enrolled_on="2020-11-05", school="某高校").status_code == 201
    r = pay(api, idn, key="late-student", amount="10.00", paid_at="2021-10-19T10:00:00+08:00")
    assert r.status_code == 201, r.text
    refused(api, pay(api, idn, key="after-year", amount="10.00", paid_at="2022-01-02T10:00:00+08:00"), 422, "paid_at",
            event_count(api.ledger))
