"""API v1 through HTTP (FastAPI's TestClient): every endpoint, every status, roles and regions."""

from datetime import date

import pytest

from api.auth import Tokens
from conftest import event_count, make_id

VILLAGE = "500110001001"  # Qijiang
OTHER_VILLAGE = "500114001001"  # Qianjiang
CHUXIONG = "532301101001"


def h(api, role="admin", **extra):
    return {"Authorization": f"Bearer {api.tokens[role]}", **extra}


def register(api, role="admin", region=VILLAGE, born=date(1975, 5, 5), **body):
    idn = body.pop("id_number", None) or make_id(born)
    r = api.post("/v1/persons", json={"id_number": idn, "name": "陈七", "region": region, **body}, headers=h(api, role))
    return idn, r


def enroll(api, idn, role="admin", **body):
    return api.post("/v1/enrollments", json={"id_number": idn, "year": 2021, "tier": 1, "enrolled_on": "2020-11-01", **body},
                    headers=h(api, role))


def pay(api, idn, key="k-1", role="admin", **body):
    payload = {"id_number": idn, "year": 2021, "amount": "100.00", "paid_at": "2020-11-02T10:00:00+08:00",
               "channel": "wechat", **body}
    return api.post("/v1/payments", json=payload, headers=h(api, role, **({"Idempotency-Key": key} if key else {})))


def assert_problem(r, status, field=None):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert {"type", "title", "status", "detail"} <= set(body) and body["status"] == status and body["detail"]
    if field:
        assert field in [e["field"] for e in body["errors"]], body
    return body


# -- writes -----------------------------------------------------------------------------------


def test_register_201_then_200_then_409(api):
    idn, r = register(api)
    assert r.status_code == 201
    assert r.json() == {"id_number": idn, "document_type": "resident_id", "name": "陈七", "sex": r.json()["sex"],
                        "birth_date": "1975-05-05", "region": VILLAGE}
    _, again = register(api, id_number=idn)
    assert again.status_code == 200 and again.json() == r.json()
    _, other = register(api, id_number=idn, region="500110002001")
    assert_problem(other, 409, "region")


def test_identities_201_with_current_categories(api):
    idn, _ = register(api)
    r = api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                 json={"category": "低保对象", "action": "certify", "effective_on": "2020-01-01", "department": "区民政局"})
    assert r.status_code == 201
    assert r.json()["categories"] == [{"category": "dibao", "name": "低保对象", "since": "2020-01-01", "department": "区民政局"}]
    r = api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
                 json={"category": "dibao", "action": "end", "effective_on": "2020-06-01"})
    assert r.status_code == 201 and r.json()["categories"] == []


def test_enrollment_201_200_tier_change_201_then_409_after_payment(api):
    idn, _ = register(api)
    first = enroll(api, idn)
    assert first.status_code == 201 and first.json()["status"] == "enrolled" and first.json()["contribution"] == "280.00"
    assert enroll(api, idn).status_code == 200
    changed = enroll(api, idn, tier=2)
    assert changed.status_code == 201 and changed.json()["tier"] == 2 and changed.json()["contribution"] == "655.00"
    assert pay(api, idn).status_code == 201
    assert_problem(enroll(api, idn, tier=1), 409, "tier")


def test_payment_201_shape_and_replay(api):
    idn, _ = register(api)
    enroll(api, idn)
    r = pay(api, idn, amount=100)
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    body = r.json()
    assert body["enrollment"]["paid"] == "100.00" and body["enrollment"]["outstanding"] == "180.00"
    pay(api, idn, key="k-2", amount="180.00")  # the ledger moves on
    replay = pay(api, idn, amount=100)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == body  # the first answer, not today's state
    assert api.ledger.coverage(idn, 2021).paid_fen == 28000


def test_payment_key_reused_with_another_body_is_422_and_writes_nothing(api):
    idn, _ = register(api)
    enroll(api, idn)
    pay(api, idn)
    before = event_count(api.ledger)
    assert_problem(pay(api, idn, amount="50.00"), 422, "Idempotency-Key")
    assert event_count(api.ledger) == before


def test_idempotency_keys_are_scoped_to_the_collection_point(api):
    idn, _ = register(api)
    enroll(api, idn)
    assert pay(api, idn, key="same", role="admin").status_code == 201
    second = pay(api, idn, key="same", role="collector")  # another point: another payment
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers
    assert api.ledger.coverage(idn, 2021).paid_fen == 20000


@pytest.mark.parametrize("key", [None, "", "x" * 256, "naïve-ключ".encode()])
def test_payment_needs_a_printable_idempotency_key(api, key):
    idn, _ = register(api)
    enroll(api, idn)
    headers = h(api)
    if key is not None:
        headers["Idempotency-Key"] = key
    r = api.post("/v1/payments", headers=headers, json={"id_number": idn, "year": 2021, "amount": "1.00",
                                                         "paid_at": "2020-11-02T10:00:00+08:00", "channel": "wechat"})
    assert_problem(r, 400, "Idempotency-Key")


def test_transaction_id_already_recorded_is_409(api):
    idn, _ = register(api)
    enroll(api, idn)
    assert pay(api, idn, key="a", transaction_id="TX-1").status_code == 201
    assert_problem(pay(api, idn, key="b", transaction_id="TX-1"), 409, "transaction_id")


def test_cancel_201_with_refund_and_409_twice(api):
    idn, _ = register(api)
    enroll(api, idn)
    pay(api, idn, amount="280.00")
    r = api.post(f"/v1/enrollments/{idn}/2021/cancel", headers=h(api, "bureau"),
                 json={"reason": "employee_insurance", "effective_on": "2020-12-01"})
    assert r.status_code == 201 and r.json()["status"] == "cancelled" and r.json()["refund"] == "280.00"
    again = api.post(f"/v1/enrollments/{idn}/2021/cancel", headers=h(api, "bureau"),
                     json={"reason": "death", "effective_on": "2020-12-02"})
    assert_problem(again, 409, "year")


def test_void_a_payment_posted_in_error(api):
    idn, _ = register(api)
    enroll(api, idn)
    payment_id = pay(api, idn).json()["payment_id"]
    r = api.post(f"/v1/persons/{idn}/payments/{payment_id}/void", headers=h(api, "bureau"), json={"reason": "wrong person"})
    assert r.status_code == 201 and r.json()["paid"] == "0.00"
    assert_problem(api.post(f"/v1/persons/{idn}/payments/nope/void", headers=h(api, "bureau"), json={"reason": "x"}), 404)


# -- reads ------------------------------------------------------------------------------------


def test_coverage_on_a_date_and_as_known_at(api, clock):
    idn, _ = register(api)
    enroll(api, idn)
    pay(api, idn, amount="280.00")
    known = clock.advance(minutes=1)
    clock.advance(minutes=1)
    api.post(f"/v1/enrollments/{idn}/2021/cancel", headers=h(api, "bureau"), json={"reason": "death", "effective_on": "2021-06-30"})
    now = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021, "on": "2021-07-01"}, headers=h(api, "auditor")).json()
    assert (now["status"], now["covered_on"], now["benefit_end"]) == ("cancelled", False, "2021-06-30")
    then = api.get(f"/v1/persons/{idn}/coverage", headers=h(api, "auditor"),
                   params={"year": 2021, "on": "2021-07-01", "known_at": known.isoformat()}).json()
    assert (then["status"], then["covered_on"], then["benefit_end"]) == ("paid", True, "2021-12-31")
    plain = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api, "auditor")).json()
    assert plain["covered_on"] is None


def test_coverage_rejects_known_at_without_offset(api):
    idn, _ = register(api)
    r = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021, "known_at": "2021-01-01T00:00:00"}, headers=h(api))
    assert_problem(r, 400, "known_at")


def test_history_names_actor_and_point_and_honours_known_at(api, clock):
    idn, _ = register(api, role="collector")
    mark = clock.advance(minutes=1)
    clock.advance(minutes=1)
    enroll(api, idn, role="bureau")
    events = api.get(f"/v1/persons/{idn}/history", headers=h(api, "auditor")).json()["events"]
    assert [(e["position"], e["type"], e["actor"], e["collection_point"]) for e in events] == [
        (1, "PersonRegistered", "collector-all", "P-collector"), (2, "Enrolled", "bureau-all", "P-bureau"),
    ]
    earlier = api.get(f"/v1/persons/{idn}/history", params={"known_at": mark.isoformat()}, headers=h(api, "auditor"))
    assert [e["type"] for e in earlier.json()["events"]] == ["PersonRegistered"]


def test_unknown_person_is_404(api):
    assert_problem(api.get(f"/v1/persons/{make_id(date(1990, 1, 1))}/coverage", params={"year": 2021}, headers=h(api)), 404)
    assert_problem(enroll(api, make_id(date(1990, 1, 1))), 404, "id_number")


# -- auth -------------------------------------------------------------------------------------


def test_no_token_bad_token_and_revoked_token_are_401(api):
    assert_problem(api.post("/v1/persons", json={}), 401)
    assert_problem(api.get("/v1/persons/x/history", headers={"Authorization": "Bearer nope"}), 401)
    Tokens(api.ledger).revoke("auditor-all")
    assert_problem(api.get("/v1/persons/x/history", headers=h(api, "auditor")), 401)


# endpoint -> roles that must get 403
MATRIX = {
    "register": {"auditor"},
    "identities": {"collector", "auditor"},
    "enroll": {"auditor"},
    "pay": {"auditor"},
    "cancel": {"collector", "auditor"},
    "void": {"collector", "auditor"},
    "coverage": set(),
    "history": set(),
}


def _call(api, endpoint, role, idn):
    body_pay = {"id_number": idn, "year": 2021, "amount": "1.00", "paid_at": "2020-11-02T10:00:00+08:00", "channel": "pos"}
    calls = {
        "register": lambda: api.post("/v1/persons", headers=h(api, role), json={"id_number": idn, "name": "陈七", "region": VILLAGE}),
        "identities": lambda: api.post(f"/v1/persons/{idn}/identities", headers=h(api, role),
                                       json={"category": "dibao", "action": "certify", "effective_on": "2021-09-01"}),
        "enroll": lambda: enroll(api, idn, role=role),
        "pay": lambda: api.post("/v1/payments", headers=h(api, role, **{"Idempotency-Key": f"m-{role}"}), json=body_pay),
        "cancel": lambda: api.post(f"/v1/enrollments/{idn}/2021/cancel", headers=h(api, role),
                                   json={"reason": "moved", "effective_on": "2021-10-01"}),
        "void": lambda: api.post(f"/v1/persons/{idn}/payments/none/void", headers=h(api, role), json={"reason": "x"}),
        "coverage": lambda: api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api, role)),
        "history": lambda: api.get(f"/v1/persons/{idn}/history", headers=h(api, role)),
    }
    return calls[endpoint]()


@pytest.mark.parametrize("role", ["collector", "bureau", "auditor", "admin"])
def test_role_endpoint_matrix(api, role):
    idn, _ = register(api)
    enroll(api, idn)
    for endpoint, forbidden in MATRIX.items():
        r = _call(api, endpoint, role, idn)
        if role in forbidden:
            assert_problem(r, 403)
        else:
            assert r.status_code not in (401, 403), (endpoint, role, r.text)


def test_region_scope_limits_writes_and_reads(api):
    inside, r = register(api, role="scoped")
    assert r.status_code == 201
    outside, r = register(api, role="scoped", region=OTHER_VILLAGE)
    assert_problem(r, 403, "region")
    outside, _ = register(api, region=OTHER_VILLAGE)  # an unscoped token registers them
    assert_problem(enroll(api, outside, role="scoped"), 403, "id_number")  # the person, not a region it would name
    assert_problem(api.get(f"/v1/persons/{outside}/coverage", params={"year": 2021}, headers=h(api, "scoped")), 403)
    assert_problem(api.post(f"/v1/persons/{outside}/identities", headers=h(api, "scoped_bureau"),
                            json={"category": "dibao", "action": "certify", "effective_on": "2021-01-01"}), 403)
    assert enroll(api, inside, role="scoped").status_code == 201
    assert api.get(f"/v1/persons/{inside}/coverage", params={"year": 2021}, headers=h(api, "scoped")).status_code == 200


# -- errors of every kind ---------------------------------------------------------------------


def test_fastapi_own_errors_are_problems(api):
    assert_problem(api.delete("/v1/persons", headers=h(api)), 405)
    assert_problem(api.get("/v1/nothing-here", headers=h(api)), 404)
    r = api.post("/v1/persons", headers=h(api, **{"content-type": "application/json"}), content=b"{not json")
    assert_problem(r, 400)
    assert_problem(api.post("/v1/persons", headers=h(api), json={"name": "x"}), 400, "id_number")
    assert_problem(api.post("/v1/persons", headers=h(api), json={"id_number": "x", "name": "x", "region": VILLAGE, "extra": 1}), 400, "extra")


def test_body_over_one_mebibyte_is_413(api):
    r = api.post("/v1/persons", headers=h(api, **{"content-type": "application/json"}), content=b" " * (1024 * 1024 + 1))
    assert_problem(r, 413)

    def chunks():  # no Content-Length: the limit is counted while reading
        for _ in range(20):
            yield b" " * 65536

    assert_problem(api.post("/v1/persons", headers=h(api, **{"content-type": "application/json"}), content=chunks()), 413)


BAD = [
    # (what, request builder, status, field)
    ("checksum", lambda api, idn: register(api, id_number="110105194912310021")[1], 400, "id_number"),
    ("impossible date", lambda api, idn: register(api, id_number="110105194902300029")[1], 400, "id_number"),
    ("wrong length", lambda api, idn: register(api, id_number="1101051949123100")[1], 400, "id_number"),
    ("unknown region", lambda api, idn: register(api, region="999999999001")[1], 400, "region"),
    ("no policy for the year", lambda api, idn: enroll(api, idn, year=2023), 422, "year"),
    ("unknown category", lambda api, idn: api.post(f"/v1/persons/{idn}/identities", headers=h(api),
                                                   json={"category": "富豪", "action": "certify", "effective_on": "2021-01-01"}), 400, "category"),
    ("tier the policy lacks", lambda api, idn: enroll(api, idn, tier=3), 422, "tier"),
    ("three decimals", lambda api, idn: pay(api, idn, amount="10.001"), 400, "amount"),
    ("three decimals as a number", lambda api, idn: pay(api, idn, amount=10.001), 400, "amount"),
    ("negative", lambda api, idn: pay(api, idn, amount=-5), 400, "amount"),
    ("not a number", lambda api, idn: pay(api, idn, amount="abc"), 400, "amount"),
    ("beyond outstanding", lambda api, idn: pay(api, idn, amount="280.01"), 422, "amount"),
    ("not enrolled for the year", lambda api, idn: pay(api, idn, year=2022), 409, "year"),
    ("cancel a year not enrolled", lambda api, idn: api.post(f"/v1/enrollments/{idn}/2022/cancel", headers=h(api),
                                                             json={"reason": "death", "effective_on": "2022-01-01"}), 409, "year"),
    ("paid_at without offset", lambda api, idn: pay(api, idn, paid_at="2020-11-02T10:00:00"), 400, "paid_at"),
    ("cash without receipt", lambda api, idn: pay(api, idn, channel="cash"), 400, "receipt_no"),
]


@pytest.mark.parametrize("what, request_, status, field", BAD, ids=[b[0] for b in BAD])
def test_bad_input_through_the_api_writes_nothing(api, what, request_, status, field):
    idn, _ = register(api)
    enroll(api, idn)
    before = event_count(api.ledger)
    assert_problem(request_(api, idn), status, field)
    assert event_count(api.ledger) == before


def test_late_payment_refused_by_004_through_the_api(api):
    idn, _ = register(api, region=CHUXIONG)
    enroll(api, idn)
    before = event_count(api.ledger)
    assert_problem(pay(api, idn, amount="280", paid_at="2021-03-01T09:00:00+08:00"), 422, "paid_at")
    assert event_count(api.ledger) == before


def test_openapi_describes_endpoints_and_problems(api):
    spec = api.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/v1/persons", "/v1/persons/{id_number}/identities", "/v1/enrollments", "/v1/payments",
                 "/v1/enrollments/{id_number}/{year}/cancel", "/v1/persons/{id_number}/coverage",
                 "/v1/persons/{id_number}/history"):
        assert path in paths
    assert "application/problem+json" in paths["/v1/payments"]["post"]["responses"]["422"]["content"]
    assert api.get("/docs").status_code == 200
