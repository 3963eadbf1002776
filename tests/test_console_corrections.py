"""The person page's correction forms (更正, 注销) through HTTP as a clerk, a careless one and a
hostile one meet them, on SQLite and PostgreSQL: the same events as the API's, each refusal shown
on the page with the field named and nothing written, and no form for a role that may not use it."""

from __future__ import annotations

import re
from datetime import date

from api.console.i18n import translator
from conftest import event_count
from console_helpers import signed_in
from test_api import OTHER_VILLAGE, enroll, h, pay, register

HOSTILE = "<script>alert(1)</script>"
zh = translator("zh")


def page_of(api, client, idn: str, document_type: str = "resident_id") -> str:
    found = client.post("/console/persons/search", data={"id_number": idn, "csrf": client.csrf,
                                                         "document_type": document_type}, follow_redirects=False)
    assert found.status_code == 303, found.text
    return found.headers["location"]


def history(api, idn: str) -> list[dict]:
    return api.get(f"/v1/persons/{idn}/history", headers=h(api, "auditor")).json()["events"]


def test_only_the_bureau_sees_the_forms_and_others_write_nothing(api):
    idn, _ = register(api)
    for role in ("auditor", "collector"):
        client = signed_in(api, role)
        address = page_of(api, client, idn)
        assert 'id="corrections"' not in client.get(address).text, role
        before = event_count(api.ledger)
        r = client.post(f"{address}/correct", data={"csrf": client.csrf, "name": "李四", "reason": "录错"})
        assert r.status_code == 403 and event_count(api.ledger) == before, role
    client = signed_in(api, "bureau")
    shown = client.get(page_of(api, client, idn)).text
    assert 'id="corrections"' in shown and 'action="' in shown
    # A page as known at a past time is for reading: no form to correct from it.
    assert 'id="corrections"' not in client.get(page_of(api, client, idn), params={"known_at": "2021-01-01T00:00"}).text


def test_a_refused_correction_shows_the_form_again_names_the_field_and_writes_nothing(api):
    idn, _ = register(api)
    enroll(api, idn)
    client = signed_in(api, "bureau")
    address = page_of(api, client, idn)
    before = event_count(api.ledger)
    cases = [  # action, form, field named, status
        ("correct", {"name": "李四"}, "reason", 400),
        ("correct", {"reason": "录错"}, "reason", 400),  # nothing named to correct
        ("correct", {"reason": "录错", "hukou_registered_on": "2021-02-30"}, "hukou_registered_on", 400),
        ("correct", {"reason": "录错", "hukou_registered_on": "20210220"}, "hukou_registered_on", 400),
        ("correct", {"reason": "录错", "region": "99"}, "region", 400),
        ("correct", {"reason": "录错", "birth_date": "1975-05-06"}, "birth_date", 400),  # a resident number's own
        ("correct", {"reason": "录错", "mother_id_number": "123"}, "mother_id_number", 400),
        ("retract", {"category": "dibao", "reason": "录错"}, "category", 409),  # never certified
        ("move", {"payment_id": "no-such-payment", "reason": "错年度", "to_year": "2022"}, "payment_id", 404),
        ("move", {"payment_id": "x", "reason": "错年度", "to_year": "20x2"}, "to_year", 400),
        ("depart", {"reason": "death", "left_on": "2099-01-01", "source": "户籍注销"}, "left_on", 400),
        ("depart", {"reason": "abducted", "left_on": "2021-03-01", "source": "户籍注销"}, "reason", 400),
        ("depart", {"reason": "death", "left_on": "2021-03-01"}, "source", 400),
    ]
    for action, form, field, status in cases:
        r = client.post(f"{address}/{action}", data={"csrf": client.csrf, **form})
        assert r.status_code == status, (action, form, r.status_code)
        refusal = re.search(rf'id="refused-{action}">(.*?)</p>', r.text, re.S)
        assert refusal and "未记账" in refusal.group(1), (action, form, r.text[-2000:])
        assert f"<strong>{zh('field:' + field)}</strong>" in refusal.group(1), (action, form, refusal.group(1))
        assert f'<details id="{action}" open>' in r.text, (action, form)  # the form is open again
        # What was typed is kept in the text fields (a resident's page has no birth date field; the
        # departure's reason is a list to pick from).
        if action in ("correct", "depart"):
            for field_name, typed in form.items():
                if field_name not in ({"birth_date"} if action == "correct" else {"reason"}):
                    assert f'value="{typed}"' in r.text, (action, field_name, typed)
        assert event_count(api.ledger) == before, (action, form)
    # Unknown actions and forged forms are refused too.
    assert client.post(f"{address}/erase", data={"csrf": client.csrf}).status_code == 404
    assert client.post(f"{address}/correct", data={"csrf": "forged", "name": "李四", "reason": "x"}).status_code == 403
    assert event_count(api.ledger) == before


def test_a_person_outside_the_bureaus_regions_is_refused_saying_nothing_of_them(api):
    outside, _ = register(api, region=OTHER_VILLAGE, born=date(1971, 7, 7))
    client = signed_in(api, "admin")
    address = page_of(api, client, outside)
    scoped = signed_in(api, "scoped_bureau")
    before = event_count(api.ledger)
    r = scoped.post(f"{address}/correct", data={"csrf": scoped.csrf, "name": "李四", "reason": "录错"})
    assert r.status_code == 403 and "陈七" not in r.text and outside[-4:] not in r.text
    assert event_count(api.ledger) == before


def test_each_form_records_the_apis_event_and_the_page_says_so(api):
    idn, _ = register(api)
    other, _ = register(api, born=date(1976, 6, 6))
    for person in (idn, other):
        enroll(api, person)
    api.post(f"/v1/persons/{idn}/identities", headers=h(api, "bureau"),
             json={"category": "dibao", "action": "certify", "effective_on": "2020-01-01"})
    paid = pay(api, other, key="to-move", amount="50.00").json()["payment_id"]
    client = signed_in(api, "bureau")
    address = page_of(api, client, idn)

    r = client.post(f"{address}/correct", data={"csrf": client.csrf, "name": "陈琦", "reason": HOSTILE},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("?done=correct")
    shown = client.get(r.headers["location"]).text
    assert 'id="done"' in shown and "陈琦" in shown
    assert HOSTILE not in shown and "&lt;script&gt;" in shown  # the reason, in the history, as text
    fixed = [e for e in history(api, idn) if e["type"] == "RegistrationCorrected"]
    assert [(e["data"]["name"], e["data"]["reason"], e["actor"], e["data"]["corrects"]) for e in fixed] == [
        ("陈琦", HOSTILE, "bureau-all", 1)]

    assert api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api)).json()["subsidy"] is not None
    r = client.post(f"{address}/retract", data={"csrf": client.csrf, "category": "dibao", "reason": "民政误录"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    assert api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api)).json()["subsidy"] is None

    other_page = page_of(api, client, other)
    assert paid in client.get(other_page).text  # offered in the move form
    r = client.post(f"{other_page}/move", data={"csrf": client.csrf, "payment_id": paid, "to_id_number": idn,
                                                 "reason": "付错人"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    moved = api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api)).json()
    assert moved["paid"] == "50.00"
    assert api.get(f"/v1/persons/{other}/coverage", params={"year": 2021}, headers=h(api)).json()["paid"] == "0.00"

    r = client.post(f"{address}/depart", data={"csrf": client.csrf, "reason": "death", "left_on": "2021-03-10",
                                               "source": "户籍注销"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    left = [e for e in history(api, idn) if e["type"] == "PersonLeft"]
    assert [(e["data"]["reason"], e["data"]["left_on"]) for e in left] == [("death", "2021-03-10")]
    assert "已记录" in client.get(r.headers["location"]).text


def test_a_permits_birth_date_is_offered_and_a_residents_is_not(api):
    permit = api.post("/v1/persons", headers=h(api), json={
        "id_number": "H87654321", "document_type": "hk_macao_pass", "name": "陈港", "sex": "male",
        "birth_date": "1980-05-05", "region": "500110001001"})
    assert permit.status_code == 201, permit.text
    resident, _ = register(api, born=date(1980, 5, 5))
    client = signed_in(api, "bureau")
    assert 'name="birth_date"' not in client.get(page_of(api, client, resident)).text
    address = page_of(api, client, "H87654321", "hk_macao_pass")
    assert 'name="birth_date"' in client.get(address).text
    r = client.post(f"{address}/correct", data={"csrf": client.csrf, "birth_date": "1980-05-15", "reason": "录错"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    got = api.get("/v1/persons/H87654321/coverage", params={"year": 2021, "document_type": "hk_macao_pass"},
                  headers=h(api))
    assert got.status_code == 200
    assert [e["data"].get("birth_date") for e in api.get(
        "/v1/persons/H87654321/history", params={"document_type": "hk_macao_pass"},
        headers=h(api, "auditor")).json()["events"] if e["type"] == "RegistrationCorrected"] == ["1980-05-15"]
    assert "1980-05-15" in client.get(address).text  # the registration shows the corrected date
