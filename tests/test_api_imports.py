"""POST /v1/imports/collections: the daily file through HTTP, raw or multipart."""

from api.limits import FILE_PATHS
from test_api import assert_problem, h
from test_collection_import import EXPECTED, FIXTURES, seed

PATH = "/v1/imports/collections"


def test_raw_gb18030_body(api):
    seed(api.ledger)
    body = (FIXTURES / "collections_zh_gb18030.csv").read_bytes()
    r = api.post(PATH, content=body, headers=h(api, "bureau", **{"content-type": "text/csv"}))
    assert r.status_code == 200, r.text
    report = r.json()
    assert {row["line"]: row["outcome"] for row in report["rows"]} == EXPECTED
    assert report["counts"]["posted"] == 1 and report["counts"]["malformed"] == 6
    assert all("*" in row["id_number"] for row in report["rows"] if row["id_number"])


def test_multipart_upload_and_idempotent_repeat(api):
    seed(api.ledger)
    files = {"file": ("daily.csv", (FIXTURES / "collections_en_utf8_bom.csv").read_bytes(), "text/csv")}
    first = api.post(PATH, files=files, headers=h(api, "admin")).json()
    again = api.post(PATH, files=files, headers=h(api, "admin")).json()
    assert first["counts"]["enrolled_and_posted"] == 1
    assert again["counts"]["posted"] == again["counts"]["enrolled_and_posted"] == 0
    assert again["counts"]["already_posted"] == 4


def test_collector_may_not_import_and_bad_files_are_400(api):
    assert_problem(api.post(PATH, content=b"x", headers=h(api, "collector")), 403)
    assert_problem(api.post(PATH, content="名字,金额\n".encode(), headers=h(api, "bureau")), 400, "file")
    assert_problem(api.post(PATH, files={"other": ("a.csv", b"x")}, headers=h(api, "bureau")), 400, "file")


def test_files_over_the_limit_are_413(api, monkeypatch):
    monkeypatch.setitem(FILE_PATHS, PATH, 1000)
    assert_problem(api.post(PATH, content=b"x" * 2000, headers=h(api, "bureau")), 413)

    def chunks():
        for _ in range(5):
            yield b"y" * 400

    assert_problem(api.post(PATH, content=chunks(), headers=h(api, "bureau")), 413)
    # Other endpoints keep their 1 MiB limit.
    assert_problem(api.post("/v1/persons", content=b" " * (1024 * 1024 + 1), headers=h(api)), 413)
