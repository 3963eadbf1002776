"""Console sessions kept in the ledger's database, on SQLite and PostgreSQL: a restart signs nobody
out, two `serve` processes share them, the table holds no session id or token, a revocation made
by another process ends them at once, and an idle one ends."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Tokens
from console_helpers import signed_in
from domain.ledger import Ledger


def other_process(api, store_env):
    """A second app over its own connection to the same database: another `serve` process, or this
    one after a restart."""
    ledger = Ledger(env=store_env)
    return ledger, create_app(ledger)


def moved_to(client: TestClient, app) -> TestClient:
    """The same browser (its cookies) sent to another process."""
    other = TestClient(app, raise_server_exceptions=False)
    other.cookies = client.cookies
    return other


def test_a_session_survives_a_restart_and_is_shared_by_two_processes(api, store_env):
    client = signed_in(api, "bureau")
    ledger, app = other_process(api, store_env)
    try:
        there = moved_to(client, app)
        page = there.get("/console/enrollment?region=500110&year=2021")
        assert page.status_code == 200 and "bureau-all" in page.text
        # A form made in one process is accepted by the other: the CSRF value is the session's.
        r = there.post("/console/persons/search", data={"id_number": "X", "csrf": client.csrf})
        assert r.status_code == 400 and "<strong>id_number</strong>" in r.text  # the number refused, not the form
        there.post("/console/logout", data={"csrf": client.csrf})
        assert client.get("/console", follow_redirects=False).status_code in (303, 401)  # ended everywhere
    finally:
        ledger.close()


def test_the_table_holds_no_session_id_and_no_token(api):
    client = signed_in(api, "bureau")
    sid = client.cookies.get("ledger_session")
    sessions = api.app.state.sessions
    rows = sessions.query(f"SELECT * FROM {sessions.table}")
    assert rows and all(sid not in str(v) and api.tokens["bureau"] not in str(v) for row in rows for v in row)


def test_a_revocation_in_another_process_ends_the_session_at_once(api, store_env):
    client = signed_in(api, "scoped_bureau")
    assert client.get("/console").status_code == 200  # verified, and cached by the API's verifier
    ledger, _ = other_process(api, store_env)
    try:
        Tokens(ledger).revoke("bureau-qijiang")
    finally:
        ledger.close()
    r = client.get("/console/enrollment?region=500110&year=2021")
    assert r.status_code == 401 and "令牌无效或已被吊销" in r.text


def test_an_idle_session_ends(api):
    client = signed_in(api, "bureau")
    sessions = api.app.state.sessions
    sessions.execute((f"UPDATE {sessions.table} SET seen = seen - ?", (9 * 3600,)))
    r = client.get("/console/enrollment?region=500110&year=2021")
    assert r.status_code == 401 and "会话已结束" in r.text
    assert sessions.query(f"SELECT count(*) FROM {sessions.table}") == [(0,)]
