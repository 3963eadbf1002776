"""The verifiable log through the API and the CLI, on SQLite and PostgreSQL: proofs checked by a
verifier that imports nothing of the ledger, roles and scopes, and tampering of every kind found
by `ledger log verify` and `ledger log audit`, naming where."""

from __future__ import annotations

import base64
import subprocess
import sys
from datetime import date

import pytest

import standalone_verifier as outside
from api.auth import Tokens
from api.services.audit import audit
from conftest import ledger_environ
from test_api import enroll, h, pay, register


@pytest.fixture(autouse=True)
def key_file(tmp_path, monkeypatch):
    path = tmp_path / "log.key"
    monkeypatch.setenv("LEDGER_LOG_KEY", str(path))
    monkeypatch.setenv("LEDGER_LOG_ORIGIN", "ledger.example/500110")
    return path


def some_history(api, persons: int = 3) -> list[str]:
    made = []
    for n in range(persons):
        idn, _ = register(api, born=date(1970 + n, 3, 4))
        owed = enroll(api, idn).json()["individual_payable"]
        r = pay(api, idn, key=f"k-{idn}", amount=owed)
        assert r.status_code == 201, r.text
        made.append(idn)
    return made


def checkpoint_now(api) -> str:
    log = api.app.state.log
    log.catch_up()
    return log.checkpoint().note


def get(api, path, role="auditor", **params):
    r = api.get(path, params=params, headers=h(api, role))
    assert r.status_code == 200, r.text
    return r


def test_an_outside_verifier_checks_checkpoints_entries_proofs_and_history(api):
    people = some_history(api)
    first = checkpoint_now(api)
    vkey = get(api, "/v1/log/key").text
    origin, m, root_m = outside.open_checkpoint(first, vkey)
    assert origin == "ledger.example/500110" and m > 0
    more = some_history(api, 2)
    checkpoint_now(api)
    note = get(api, "/v1/log/checkpoint").text
    _, n, root_n = outside.open_checkpoint(note, vkey)
    assert n > m and get(api, "/v1/log/checkpoint", size=m).text == first
    proof = get(api, "/v1/log/proof/consistency", **{"from": m, "to": n}).json()
    assert outside.verify_consistency(m, n, root_m, root_n, [base64.b64decode(x) for x in proof["hashes"]])
    entries = [base64.b64decode(e) for e in get(api, "/v1/log/entries", start=0, end=n).json()["entries"]]
    assert len(entries) == n
    positions = [outside.parse_leaf(e)["position"] for e in entries]
    assert positions == sorted(positions)
    for i in (0, n // 2, n - 1):
        path = get(api, "/v1/log/proof/inclusion", index=i, size=n).json()["hashes"]
        assert outside.verify_inclusion(outside.leaf_hash(entries[i]), i, n, [base64.b64decode(x) for x in path],
                                        root_n)
    answer = get(api, f"/v1/persons/{(people + more)[0]}/history", with_proofs="true").json()
    _, size, root = outside.open_checkpoint(answer["checkpoint"], vkey)
    assert len(answer["events"]) >= 3
    for event in answer["events"]:
        leaf = base64.b64decode(event["leaf"])
        assert outside.parse_leaf(leaf)["version"] == event["position"]
        assert outside.verify_inclusion(outside.leaf_hash(leaf), event["leaf_index"], size,
                                        [base64.b64decode(x) for x in event["inclusion"]], root)
    forged = bytearray(base64.b64decode(answer["events"][0]["leaf"]))
    forged[-2] ^= 1
    assert not outside.verify_inclusion(outside.leaf_hash(bytes(forged)), answer["events"][0]["leaf_index"], size,
                                        [base64.b64decode(x) for x in answer["events"][0]["inclusion"]], root)


def test_roles_scopes_and_bad_parameters(api):
    some_history(api, 1)
    checkpoint_now(api)
    for role in ("collector", "bureau"):
        assert api.get("/v1/log/checkpoint", headers=h(api, role)).status_code == 403
    admin = Tokens(api.ledger).create("auditor", ["500110"], None, "scoped-auditor")[1]
    scoped = {"Authorization": f"Bearer {admin}"}
    assert api.get("/v1/log/checkpoint", headers=scoped).status_code == 200  # the whole ledger's tree
    r = api.get("/v1/log/entries", params={"start": 0, "end": 1}, headers=scoped)
    assert r.status_code == 403 and "regions" in r.json()["detail"]
    for params, field in (({"start": 0, "end": 2000}, "end"), ({"start": 5, "end": 5}, "end")):
        r = api.get("/v1/log/entries", params=params, headers=h(api, "auditor"))
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == field
    size = api.app.state.log.size()
    r = api.get("/v1/log/proof/inclusion", params={"index": size, "size": size}, headers=h(api, "auditor"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "index"
    r = api.get("/v1/log/proof/consistency", params={"from": 1, "to": size + 1}, headers=h(api, "auditor"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "to"
    assert api.get("/v1/log/checkpoint", params={"size": size + 7}, headers=h(api, "auditor")).status_code == 404
    r = api.get(f"/v1/persons/{register(api)[0]}/history", params={"with_proofs": "true"}, headers=h(api, "collector"))
    assert r.status_code == 403


def test_the_key_file_is_made_once_readable_by_its_owner_only(api, key_file):
    checkpoint_now(api)
    assert key_file.exists() and key_file.stat().st_mode & 0o777 == 0o600
    text = key_file.read_text()
    checkpoint_now(api)
    assert key_file.read_text() == text


# -- tampering -------------------------------------------------------------------------------------


def raw(ledger, sqlite_sql: str, postgres_sql: str, params: tuple = ()) -> list:
    postgres = ledger.store.recorder.__class__.__module__.endswith("postgres")
    schema = ledger.store.recorder.datastore.schema if postgres else ""
    with ledger.store.recorder.datastore.transaction(commit=True) as c:
        c.execute((postgres_sql.replace("S.", f"{schema}.") if postgres else sqlite_sql).replace(
            "?", "%s" if postgres else "?"), params)
        try:
            return c.fetchall()
        except Exception:  # noqa: BLE001 - statements without rows
            return []


ID = {"sqlite": "rowid", "postgres": "notification_id"}


def tamper(ledger, how: str, position: int) -> None:
    t = ledger.store.recorder.events_table_name
    if how == "byte":
        raw(ledger, f"UPDATE {t} SET state = CAST(substr(state, 1, 20) || 'X' || substr(state, 22) AS BLOB)"
                    " WHERE rowid = ?",
            f"UPDATE S.{t} SET state = overlay(state placing '\\x58'::bytea from 21 for 1) WHERE notification_id = ?",
            (position,))
    elif how == "delete":
        raw(ledger, f"DELETE FROM {t} WHERE rowid = ?", f"DELETE FROM S.{t} WHERE notification_id = ?", (position,))
    elif how == "swap":
        for a, b in ((position, -1), (position + 1, position), (-1, position + 1)):
            raw(ledger, f"UPDATE {t} SET rowid = ? WHERE rowid = ?",
                f"UPDATE S.{t} SET notification_id = ? WHERE notification_id = ?", (b, a))
    elif how == "truncate":
        raw(ledger, f"DELETE FROM {t} WHERE rowid >= ?", f"DELETE FROM S.{t} WHERE notification_id >= ?", (position,))


def verify_cli(store_env, tmp_path, key_file) -> subprocess.CompletedProcess:
    env = {**ledger_environ(store_env), "LEDGER_LOG_KEY": str(key_file), "LEDGER_LOG_ORIGIN": "ledger.example/500110"}
    return subprocess.run([sys.executable, "-m", "api.cli", "log", "verify", "--quiet"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("how", ["byte", "delete", "swap", "truncate"])
def test_tampering_with_the_stored_events_is_found_and_named(api, store_env, tmp_path, key_file, how):
    some_history(api, 4)
    checkpoint_now(api)
    untouched = verify_cli(store_env, tmp_path, key_file)
    assert untouched.returncode == 0 and "verified" in untouched.stdout, untouched.stdout + untouched.stderr
    size = api.app.state.log.size()
    position = size // 2
    tamper(api.ledger, how, position)
    found = verify_cli(store_env, tmp_path, key_file)
    assert found.returncode == 1, found.stdout + found.stderr
    if how == "truncate":
        assert f"leaf {position - 1} on are missing" in found.stdout, found.stdout
    else:
        assert f"position {position}" in found.stdout, found.stdout


def test_a_tree_rewritten_to_match_a_forged_log_fails_verify_and_audit(api, store_env, tmp_path, key_file):
    some_history(api, 4)
    saved = tmp_path / "auditor-checkpoint"
    vkey = get(api, "/v1/log/key").text
    checkpoint_now(api)
    first = audit("http://testserver", saved, vkey, api.tokens["auditor"], client=api)
    assert first.ok and saved.exists(), first.message
    some_history(api, 1)
    checkpoint_now(api)
    again = audit("http://testserver", saved, vkey, api.tokens["auditor"], client=api)
    assert again.ok, again.message
    size = api.app.state.log.size()
    # The forger changes an event and makes the tree again from the forged log, keeping the
    # signed checkpoints (they cannot sign new ones without the key; here they even have it).
    tamper(api.ledger, "byte", 3)
    for table in ("tlog_tiles", "tlog_runs", "tlog_state"):
        raw(api.ledger, f"DELETE FROM {table}", f"DELETE FROM S.{table}")
    log = api.app.state.log
    log.tree._cache.clear()
    assert log.catch_up() == size
    found = verify_cli(store_env, tmp_path, key_file)
    assert found.returncode == 1 and "signed checkpoint of size" in found.stdout, found.stdout
    raw(api.ledger, "DELETE FROM tlog_checkpoints", "DELETE FROM S.tlog_checkpoints")
    log.checkpoint()  # a new signature over the forged tree, with the real key
    caught = audit("http://testserver", saved, vkey, api.tokens["auditor"], client=api)
    assert not caught.ok and f"first {size} was changed" in caught.message, caught.message


def test_audit_refuses_a_checkpoint_signed_by_another_key(api, tmp_path):
    some_history(api, 1)
    checkpoint_now(api)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from projections.notes import Signer

    stranger = Signer("ledger.example/500110", Ed25519PrivateKey.generate()).verifier_key()
    result = audit("http://testserver", tmp_path / "cp", stranger, api.tokens["auditor"], client=api)
    assert not result.ok and "signature" in result.message


def test_ledger_log_audit_against_a_served_ledger(tmp_path):
    """The outside auditor's command against `ledger serve`: first run saves, later runs check
    consistency; after a forged event and a tree made again, it fails and says so."""
    import sqlite3

    from served import ledger, ledger_env, serving, token

    env = ledger_env(tmp_path, LEDGER_LOG_ORIGIN="ledger.example/500110")
    assert ledger(tmp_path, env, "demo", "--scale", "2000", "--quiet").returncode == 0
    secret = token(tmp_path, env, "auditor", "outside")
    vkey = ledger(tmp_path, env, "log", "key").stdout.strip()
    saved = str(tmp_path / "auditor.checkpoint")
    with serving(tmp_path, env, "--no-access-log") as base:
        audit_args = ("log", "audit", "--url", base, "--checkpoint", saved, "--key", vkey, "--token", secret)
        assert ledger(tmp_path, env, "log", "checkpoint").returncode == 0
        first = ledger(tmp_path, env, *audit_args)
        assert first.returncode == 0 and "first checkpoint" in first.stdout, first.stdout + first.stderr
        token(tmp_path, env, "auditor", "another")  # the log grows
        assert ledger(tmp_path, env, "log", "checkpoint").returncode == 0
        again = ledger(tmp_path, env, *audit_args)
        assert again.returncode == 0 and "consistent" in again.stdout, again.stdout
        with sqlite3.connect(tmp_path / "ledger.db") as db:  # a forger with the database and the key
            db.execute("UPDATE stored_events SET state = CAST(replace(CAST(state AS TEXT), '\"tier\":1',"
                       " '\"tier\":2') AS BLOB) WHERE rowid = (SELECT min(rowid) FROM stored_events"
                       " WHERE topic LIKE '%Enrolled')")
            for table in ("tlog_tiles", "tlog_runs", "tlog_state", "tlog_checkpoints"):
                db.execute(f"DELETE FROM {table}")
        assert ledger(tmp_path, env, "log", "checkpoint").returncode == 0
        caught = ledger(tmp_path, env, *audit_args)
        assert caught.returncode == 1 and "FAILED" in caught.stdout and "was changed" in caught.stdout, caught.stdout


def test_verify_in_worker_processes_finds_the_same_as_in_one(api):
    """The full log is hashed by worker processes, page by page: the same verdicts as in one
    process, across page and tile boundaries."""
    from projections.tlog import VerifiableLog, verify

    some_history(api, 12)
    log = VerifiableLog.of(api.ledger.store, api.ledger.env)
    log.catch_up()
    log.checkpoint()
    assert log.size() >= 60
    assert verify(log, page=7, workers=2).ok and verify(log, page=7, workers=1).ok
    position = log.size() - 5
    tamper(api.ledger, "byte", position)
    found = [verify(log, page=7, workers=w) for w in (1, 2)]
    assert found[0] == found[1] and not found[0].ok and found[0].position == position
