"""GET /v1/reports/enrollment: the notices' tables, counts as of a date and as known at a time."""

import csv
import io

import openpyxl
import pytest

from test_api import assert_problem, enroll, h, pay, register


def report(api, role="auditor", **params):
    return api.get("/v1/reports/enrollment", params=params, headers=h(api, role))


@pytest.mark.parametrize(
    "region, year, rows, population, target",
    [("500114", 2021, 30, 557_458, 466_800), ("430623110", 2021, 8, 28_871, 27_431), ("500237103", 2022, 22, 44_462, 41_031)],
)
def test_reports_reproduce_the_notices_tables(api, region, year, rows, population, target):
    body = report(api, region=region, year=year, as_of=f"{year}-06-30").json()
    assert len(body["rows"]) == rows
    assert (body["total"]["population"], body["total"]["target"]) == (population, target)


def test_futian_carries_the_mismatch_warning_and_others_none(api):
    futian = report(api, region="500237103", year=2022).json()
    table_warnings = [w for w in futian["warnings"] if "below their target" not in w and "assisted persons" not in w]
    assert table_warnings == ["the 2022 target column sums to 41,031 while the notice prints 41,030 (and its text says 39,168)"]
    qianjiang = report(api, region="500114", year=2021).json()["warnings"]
    assert [w for w in qianjiang if "below their target" not in w and "assisted persons" not in w] == []


def test_counts_as_of_a_date_and_as_known_at_a_time(api, clock):
    village, township = "500114001001", "500114001"
    paid_in_window, _ = register(api, region=village)
    enroll(api, paid_in_window)
    pay(api, paid_in_window, key="a", amount="280.00", paid_at="2020-11-02T10:00:00+08:00")
    late, _ = register(api, region=village)
    enroll(api, late, enrolled_on="2021-03-01")
    pay(api, late, key="b", amount="280.00", paid_at="2021-03-01T10:00:00+08:00")  # covered from 05-31
    assisted, _ = register(api, region=village)
    api.post(f"/v1/persons/{assisted}/identities", headers=h(api, "bureau"),
             json={"category": "dibao", "action": "certify", "effective_on": "2020-01-01"})
    known = clock.advance(minutes=1)
    clock.advance(minutes=1)
    api.post(f"/v1/enrollments/{paid_in_window}/2021/cancel", headers=h(api, "bureau"),
             json={"reason": "death", "effective_on": "2021-04-01"})

    def row(**params):
        body = report(api, region="500114", year=2021, **params).json()
        return next(r for r in body["rows"] if r["region"] == township)

    feb = row(as_of="2021-02-28")
    assert (feb["enrolled"], feb["paid"], feb["covered"], feb["assisted"], feb["assisted_enrolled"]) == (1, 1, 1, 1, 0)
    assert feb["rate_of_population"] == f"{1 / 55869:.4f}"
    june_now = row(as_of="2021-06-30")
    assert (june_now["enrolled"], june_now["paid"], june_now["covered"]) == (1, 1, 1)  # the first is cancelled
    june_then = row(as_of="2021-06-30", known_at=known.isoformat())
    assert (june_then["enrolled"], june_then["paid"], june_then["covered"]) == (2, 2, 2)


def test_csv_and_xlsx(api):
    r = report(api, region="430623110", year=2021, format="csv")
    assert r.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    total = next(r for r in rows if r[0] == "430623110")  # the warnings follow the total
    assert rows[0][:4] == ["region", "name", "population", "target"] and rows[1][1] == "同福村" and total[2] == "28871"
    x = report(api, region="500237103", year=2022, format="xlsx")
    book = openpyxl.load_workbook(io.BytesIO(x.content))
    sheet = book.worksheets[0]
    assert sheet.cell(2, 2).value == "水口村" and sheet.cell(24, 4).value == 41031
    assert "41,030" in book["warnings"].cell(1, 1).value


def test_report_region_scope_and_bad_parameters(api):
    assert report(api, role="scoped", region="500110", year=2021).status_code == 200
    assert_problem(report(api, role="scoped", region="500114", year=2021), 403, "region")
    assert_problem(report(api, region="abc", year=2021), 400, "region")
    assert_problem(report(api, region="500114", year=2021, format="pdf"), 400, "format")
