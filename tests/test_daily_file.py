"""The files bureaus really send: encodings decided rather than guessed, spreadsheets, and a fuzz of
the import that checks its answer against what the store then holds.

Oracles independent of the code under test: the text the test itself encoded (with Python's own
codecs), the payments read back from the event log, and the spreadsheet cells as the test wrote
them with xlsxwriter or xlwt.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import subprocess
import sys
from datetime import date

import pytest
import xlsxwriter
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from api.services.daily_file import FileProblem, decide_encoding, read_rows
from conftest import BUREAU, ledger_environ
from test_api import h
from test_hostile_input import HEADER, daily_file, seed_people, stored_payments

ENGLISH = ["transaction_id", "id_number", "name", "year", "tier", "amount", "paid_at", "channel", "collection_point",
           "receipt_no"]
# Names of one to four characters, common and rare (扩展B 𠀀, 𪚥), and the 测试0 kind that a
# guesser called "cp1250".
NAME_CHARS = "测试张王李赵钱孙周吴郑冯陈褚卫蒋沈韩杨朱秦尤许何吕施孔曹严华金魏陶姜戚谢邹喻柏水窦章云苏潘葛奚范彭郎𠀀𪚥龘鑫淼"
names = st.text(alphabet=NAME_CHARS + "0123456789", min_size=1, max_size=4)


def encoded_file(header: list[str], rows: list[list[str]], encoding: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


@settings(max_examples=150, deadline=None)
@given(st.lists(names, min_size=1, max_size=40), st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]),
       st.booleans(), st.integers(min_value=1, max_value=400))
def test_the_encoding_is_decided_and_every_cell_reads_back_as_written(row_names, encoding, chinese, repeat):
    header = HEADER if chinese else ENGLISH
    rows = [[f"TX{i}", "500110197001011018", name, "2021", "1", "10.00", "2020-11-20 10:00:00", "微信", "QJ-001", ""]
            for i, name in enumerate(row_names * repeat)]
    data = encoded_file(header, rows, encoding)
    expected = "gb18030" if encoding == "gb18030" else "utf-8-sig"
    try:
        data.decode("utf-8")
        also_utf8 = True
    except UnicodeDecodeError:
        also_utf8 = False
    if encoding == "gb18030" and also_utf8:
        # By contract UTF-8 is tried first: a GB18030 file that is also valid UTF-8 cannot be told
        # apart. A Chinese header never is (缴 is 0xBD 0xC9 in GB18030, no UTF-8 start byte).
        assert not chinese
        return
    assert decide_encoding(io.BytesIO(data)) == expected
    read = list(read_rows(io.BytesIO(data)))
    assert [r.cells["name"] for r in read] == [r[2] for r in rows]
    assert [r.line for r in read] == list(range(2, len(rows) + 2))
    assert all(r.problem is None for r in read)


def test_short_files_a_guesser_refused_are_read(api):
    people = seed_people(api.ledger, 3)
    names = ["测试0", "测试1", "测试2"]
    for i, idn in enumerate(people):
        api.ledger.correct_registration(BUREAU, id_number=idn, reason="test names", name=names[i])
    for encoding, header in (("utf-8", HEADER), ("utf-8", ENGLISH), ("gb18030", HEADER), ("utf-8-sig", ENGLISH)):
        rows = [[f"S-{encoding}-{len(header[0])}-{i}", idn, names[i], 2021, 1, "1.00", "2020-11-20 10:00:00", "微信",
                 "QJ-001", ""] for i, idn in enumerate(people)]
        r = api.post("/v1/imports/collections", headers=h(api, "bureau"), content=encoded_file(header, rows, encoding))
        assert r.status_code == 200, (encoding, r.text)
        assert r.json()["counts"]["posted"] == 3, r.json()


def test_a_file_in_neither_encoding_is_refused_naming_the_line_and_writes_nothing(api):
    people = seed_people(api.ledger, 2)
    before = stored_payments(api.ledger)
    good = daily_file([[f"B-{i}", idn, f"名{i}", 2021, 1, "1.00", "2020-11-20 10:00:00", "微信", "QJ-001", ""]
                       for i, idn in enumerate(people)])
    lines = good.split(b"\n")
    lines[2] = lines[2].replace("名1".encode(), b"\xff\xfe\x80")  # line 3: bytes neither encoding reads
    r = api.post("/v1/imports/collections", headers=h(api, "bureau"), content=b"\n".join(lines))
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")
    assert "line 3" in r.json()["detail"] and "UTF-8" in r.json()["detail"] and "GB18030" in r.json()["detail"]
    assert stored_payments(api.ledger) == before  # line 2 was good, and still nothing was posted


# -- spreadsheets ----------------------------------------------------------------------------------------


def xlsx_file(rows: list[list], merge: tuple | None = None, title: bool = True) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("缴费明细")
    stamp = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    first = 0
    if title:
        sheet.merge_range(0, 0, 0, 9, "2021年度城乡居民医保缴费明细（税务局导出）")
        first = 2  # a title line, then an empty one, then the header
    sheet.write_row(first, 0, HEADER)
    for r, row in enumerate(rows, start=first + 1):
        for c, value in enumerate(row):
            if isinstance(value, dt.datetime):
                sheet.write_datetime(r, c, value, stamp)
            elif isinstance(value, dt.date):
                sheet.write_datetime(r, c, dt.datetime(value.year, value.month, value.day), day)
            elif isinstance(value, (int, float)):
                sheet.write_number(r, c, value)
            elif value is None:
                continue
            else:
                sheet.write_string(r, c, value)
    if merge:
        sheet.merge_range(*merge)
    book.close()
    return buffer.getvalue()


def test_an_xlsx_daily_file_posts_like_the_csv_one(api, tmp_path):
    people = seed_people(api.ledger, 8)
    before = stored_payments(api.ledger)
    p = [(idn, f"名{i}") for i, idn in enumerate(people)]
    rows = [
        ["X-1", p[0][0], p[0][1], 2021, 1, 10, dt.datetime(2020, 11, 20, 10, 30), "微信", "QJ-001", None],  # date cell
        ["X-2", p[1][0], p[1][1], 2021.0, 1.0, 84.5, "2020/11/21", "支付宝", "QJ-001", None],  # numbers, slashes
        ["X-3", p[2][0], p[2][1], "2021", "一档", "12.30", "20201122", "bank", "QJ-002", None],  # text, digits only
        ["X-4", p[3][0], p[3][1], 2021, 1, 1.5, dt.date(2020, 11, 23), "现金", "QJ-002", "R-9"],  # a date-only cell
        ["X-5", float(p[4][0]), p[4][1], 2021, 1, 10, "2020-11-20 10:00:00", "微信", "QJ-001", None],  # id as number
        ["X-6", p[5][0], p[5][1], 2021, 1, None, "2020-11-20 10:00:00", "微信", "QJ-001", None],  # empty amount
        ["X-7", p[6][0], p[6][1], 2021, 1, 10, "2020-11-20 10:00:00", "微信", "QJ-001", None],  # merged below
        ["X-8", p[7][0], p[7][1], 2021, 1, 10, "2020-11-20 10:00:00", "微信", None, None],
    ]
    data = xlsx_file(rows, merge=(9, 8, 10, 8, "QJ-003"))  # 征收点 merged over the rows of
    r = api.post("/v1/imports/collections", headers=h(api, "bureau"), files={"file": ("daily.xlsx", data)})
    assert r.status_code == 200, r.text
    out = {row["transaction_id"]: row for row in r.json()["rows"]}
    assert {k: v["outcome"] for k, v in out.items()} == {
        "X-1": "posted", "X-2": "posted", "X-3": "posted", "X-4": "posted", "X-5": "malformed", "X-6": "malformed",
        "X-7": "posted", "X-8": "malformed"}  # a merge's value stands in its first row; the next reads empty
    assert [out[k]["amount"] for k in ("X-1", "X-2", "X-3", "X-4")] == ["10.00", "84.50", "12.30", "1.50"]
    assert out["X-1"]["line"] == 4 and out["X-8"]["line"] == 11  # the sheet's own row numbers
    assert "as text" in out["X-5"]["message"] and "empty" in out["X-6"]["message"]
    assert "empty or merged" in out["X-8"]["message"]
    assert stored_payments(api.ledger) == (before[0] + 5, before[1] + 1000 + 8450 + 1230 + 150 + 1000)
    history = api.get(f"/v1/persons/{p[0][0]}/history", headers=h(api)).json()["events"]
    assert history[-1]["data"]["paid_at"] == "2020-11-20T10:30:00+08:00"
    # The CLI reads the same workbook: everything posted already, nothing new.
    path = tmp_path / "daily.xlsx"
    path.write_bytes(data)
    done = subprocess.run([sys.executable, "-m", "api.cli", "import", "collections", str(path), "--quiet"],
                          cwd=tmp_path, env=ledger_environ(api.ledger.env), capture_output=True, text=True, timeout=120)
    assert "Traceback" not in done.stderr and "already_posted" in done.stdout, done.stdout + done.stderr
    assert stored_payments(api.ledger) == (before[0] + 5, before[1] + 1000 + 8450 + 1230 + 150 + 1000)


def test_an_xls_daily_file_is_read_too(api):
    xlwt = pytest.importorskip("xlwt", reason="xlwt writes the XLS fixture (test extra)")
    people = seed_people(api.ledger, 4)
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("明细")
    for c, name in enumerate(HEADER):
        sheet.write(0, c, name)
    day = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
    for r, idn in enumerate(people, start=1):
        for c, value in enumerate([f"L-{r}", idn, f"名{r - 1}", 2021, 1, 20.5, None, "微信", "QJ-001", ""]):
            if c == 6:
                sheet.write(r, c, dt.datetime(2020, 11, 20, 9), day)
            elif c == 8 and r >= 3:
                continue
            else:
                sheet.write(r, c, value)
    sheet.write_merge(3, 4, 8, 8, "QJ-002")  # 征收点 merged over the last two rows
    buffer = io.BytesIO()
    book.save(buffer)
    r = api.post("/v1/imports/collections", headers=h(api, "bureau"), content=buffer.getvalue())
    assert r.status_code == 200, r.text
    assert r.json()["counts"]["posted"] == 2 and r.json()["totals"]["by_channel"] == [
        {"key": "wechat", "rows": 2, "amount": "41.00"}]
    merged = [row for row in r.json()["rows"] if row["line"] in (4, 5)]
    assert [row["outcome"] for row in merged] == ["malformed", "malformed"]
    assert all("merged cell" in row["message"] for row in merged)


def test_a_workbook_that_cannot_be_read_is_refused_whole(api):
    before = stored_payments(api.ledger)
    for data in (b"PK\x03\x04" + b"\x00" * 100, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 600):
        r = api.post("/v1/imports/collections", headers=h(api, "bureau"), content=data)
        assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json"), r.text
        assert r.json()["errors"][0]["field"] == "file"
    assert stored_payments(api.ledger) == before


def test_a_sheet_without_the_header_names_what_is_missing():
    data = xlsx_file([], title=False)
    assert list(read_rows(io.BytesIO(data))) == []
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    book.add_worksheet().write_row(0, 0, ["姓名", "金额"])
    book.close()
    with pytest.raises(FileProblem) as e:
        list(read_rows(io.BytesIO(buffer.getvalue())))
    assert "transaction_id" in str(e.value)


# -- the fuzz of the import ------------------------------------------------------------------------------

printable = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
# Hostile values per cell; a row is a valid one with none to three of its cells replaced by these.
HOSTILE = {
    "transaction_id": st.one_of(printable, st.sampled_from(["F1", "=cmd|' /C calc'!A0", "\x00"])),
    "id_number": st.one_of(printable, st.sampled_from(["P9", "１", "500110198303030000"])),
    "name": st.one_of(printable, st.sampled_from(["名9", "\u202e名", ""])),
    "year": st.one_of(printable, st.sampled_from(["2020", "2022", "２０２１", "21", ""])),
    "tier": st.sampled_from(["2", "3", "", "1.0", "二档"]),
    "amount": st.one_of(printable, st.sampled_from(["280.00", "300", "-1", "1e3", "１０", "", "0.001"])),
    "paid_at": st.one_of(printable, st.sampled_from(["2021-03-02 08:00:00", "2099-01-01 00:00:00",
                                                      "1970-01-01 00:00:00", "2020-02-30 10:00:00", "12/01/2020"])),
    "channel": st.sampled_from(["现金", "pigeon", "", "WECHAT"]),
    "collection_point": st.one_of(printable, st.just("-2+3")),
    "receipt_no": printable,
}


@st.composite
def row(draw):
    i = draw(st.integers(0, 3))
    cells = {"transaction_id": f"F{draw(st.integers(0, 30))}", "id_number": f"P{i}", "name": f"名{i}",
             "year": "2021", "tier": "1",
             "amount": draw(st.sampled_from(["0.01", "1.00", "10", "84.5"])),
             "paid_at": draw(st.sampled_from(["2020-11-20 10:00:00", "2020/11/21", "20201122"])),
             "channel": draw(st.sampled_from(["微信", "支付宝", "bank"])), "collection_point": "QJ-001", "receipt_no": ""}
    for field in draw(st.sets(st.sampled_from(sorted(HOSTILE)), max_size=3)):
        cells[field] = draw(HOSTILE[field])
    return cells


@st.composite
def files(draw):
    kind = draw(st.sampled_from(["csv", "csv", "csv", "bytes", "xlsx"]))
    if kind == "bytes":
        return draw(st.binary(max_size=400))
    rows = draw(st.lists(row(), max_size=12))
    if kind == "xlsx":
        return xlsx_file([[r[f] for f in ENGLISH] for r in rows], title=draw(st.booleans()))
    header = draw(st.sampled_from([HEADER, ENGLISH, ENGLISH[:5], HEADER[::-1]]))
    table = [[r[ENGLISH[HEADER.index(h)] if h in HEADER else h] for h in header] for r in rows]
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030", "utf-16", "latin-1"]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(table)
    try:
        data = out.getvalue().encode(encoding)
    except UnicodeEncodeError:
        data = out.getvalue().encode("utf-8")
    if draw(st.booleans()):  # damage a few bytes
        data = bytearray(data)
        for _ in range(draw(st.integers(0, 3))):
            if data:
                data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        data = bytes(data)
    return data


@pytest.fixture
def fuzz_people(api):
    people = seed_people(api.ledger, 4, born=date(1983, 3, 3))
    return {f"P{i}": idn for i, idn in enumerate(people)}


def test_the_import_never_fails_and_its_totals_are_what_the_store_holds(api, fuzz_people):
    """Random files (bytes, damaged CSV in several encodings, spreadsheets, hostile cells): never a
    500; either a whole-file problem with nothing written, or one outcome per row whose posted
    count and amounts equal the payments that appeared in the store."""
    n_examples = 60 if api.ledger.env["PERSISTENCE_MODULE"].endswith("sqlite") else 30

    @settings(max_examples=n_examples, deadline=None, suppress_health_check=list(HealthCheck))
    @given(files())
    def check(data):
        for key, idn in fuzz_people.items():
            data = data.replace(key.encode(), idn.encode()) if not data.startswith(b"PK") else data
        before = stored_payments(api.ledger)
        r = api.post("/v1/imports/collections", headers=h(api, "bureau"), content=data)
        after = stored_payments(api.ledger)
        assert r.status_code in (200, 400), r.text[:500]
        event(f"answered {r.status_code}")
        if r.status_code == 400:
            assert r.headers["content-type"].startswith("application/problem+json")
            assert after == before
            return
        answer = r.json()
        assert sum(answer["counts"].values()) == len(answer["rows"])
        posted = [x for x in answer["rows"] if x["outcome"] in ("posted", "enrolled_and_posted")]
        assert len(posted) == answer["counts"]["posted"] + answer["counts"]["enrolled_and_posted"]
        event("some rows posted" if posted else "no row posted")
        fen = sum(int(x["amount"].replace(".", "")) for x in posted)
        assert after == (before[0] + len(posted), before[1] + fen)
        assert sum(t["rows"] for t in answer["totals"]["by_channel"]) == len(posted)

    check()
