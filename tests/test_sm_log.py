"""The verifiable log in the 国密 mode (SM2 signatures, SM3 tree): the standards' known answers, the
key file's checks, a log made so end to end through the API and the CLI (checked by an outside
verifier that uses OpenSSL, not the ledger's code), and a log that never mixes algorithms."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import standalone_verifier as outside
from api.services.audit import audit
from conftest import ledger_environ
from projections import merkle, sm2
from projections.notes import NoteError
from projections.tlog import VerifiableLog
from test_verifiable_log import checkpoint_now, get, key_file, some_history, tamper  # noqa: F401 - key_file: a fixture

ROOT = Path(__file__).resolve().parents[1]

# GB/T 32918.5-2017 Annex A (GM/T 0003.5-2012 A.2): a signature on the recommended curve.
PRIVATE = int("3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8", 16)
PUBLIC = bytes.fromhex("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020"
                       "CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
NONCE = int("59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21", 16)
SIGNATURE = bytes.fromhex("F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
                          "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA")


def test_sm3_known_answers():
    """GB/T 32905-2016 Annex A, examples 1 and 2."""
    sm3 = merkle.tree_hash("sm3")
    assert sm3.digest(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3.digest(b"abcd" * 16).hex() == "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    assert sm3.empty == sm3.digest(b"") != merkle.SHA256.empty


def test_sm2_known_answer():
    assert sm2.public_of(PRIVATE) == PUBLIC
    assert sm2.sign(PRIVATE, PUBLIC, b"message digest", nonce=NONCE) == SIGNATURE
    assert sm2.verify(PUBLIC, b"message digest", SIGNATURE)
    assert not sm2.verify(PUBLIC, b"message digesT", SIGNATURE)
    assert not sm2.verify(PUBLIC, b"message digest", SIGNATURE[:-1] + bytes([SIGNATURE[-1] ^ 1]))
    # A fresh signature (random nonce) verifies too, and OpenSSL's own SM2 agrees.
    fresh = sm2.sign(PRIVATE, PUBLIC, b"message digest")
    assert fresh != SIGNATURE and sm2.verify(PUBLIC, b"message digest", fresh)
    assert outside.sm2_verify_with_openssl(b"\x04" + PUBLIC, b"message digest", fresh)
    assert outside.sm2_verify_with_openssl(b"\x04" + PUBLIC, b"message digest", SIGNATURE)


def test_the_sm2_key_file_is_pkcs8_owner_only_and_other_keys_are_refused(tmp_path):
    path = tmp_path / "log.key"
    private = sm2.key_file(path)
    assert path.stat().st_mode & 0o777 == 0o600 and sm2.read_key_file(path) == private
    if shutil.which("openssl"):  # the file is what OpenSSL itself writes and reads for SM2
        shown = subprocess.run(["openssl", "pkey", "-in", str(path), "-noout", "-text"], capture_output=True, text=True)
        assert shown.returncode == 0 and "SM2" in shown.stdout, shown.stderr
    path.chmod(0o644)
    with pytest.raises(NoteError, match="chmod 600"):
        sm2.read_key_file(path)
    for other in (Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())):
        wrong = tmp_path / f"{type(other).__name__}.key"
        wrong.write_bytes(other.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption()))
        wrong.chmod(0o600)
        with pytest.raises(NoteError, match="not SM2|not an SM2"):
            sm2.read_key_file(wrong)


@pytest.fixture
def sm_mode(monkeypatch):
    monkeypatch.setenv("LEDGER_LOG_ALGORITHMS", "sm2-sm3")


def test_a_log_in_the_sm_mode_is_checked_by_an_outside_verifier(sm_mode, api, tmp_path):
    people = some_history(api, 3)
    first = checkpoint_now(api)
    vkey = get(api, "/v1/log/key").text
    assert outside.hash_of(vkey) == "sm3"
    _, m, root_m = outside.open_checkpoint(first, vkey)
    some_history(api, 2)
    checkpoint_now(api)
    note = get(api, "/v1/log/checkpoint").text
    _, n, root_n = outside.open_checkpoint(note, vkey)
    proof = get(api, "/v1/log/proof/consistency", **{"from": m, "to": n}).json()["hashes"]
    assert outside.verify_consistency(m, n, root_m, root_n, [base64.b64decode(x) for x in proof], "sm3")
    assert not outside.verify_consistency(m, n, root_m, root_n, [base64.b64decode(x) for x in proof], "sha256")
    entries = [base64.b64decode(e) for e in get(api, "/v1/log/entries", start=0, end=n).json()["entries"]]
    for i in (0, n - 1):
        path = [base64.b64decode(x) for x in get(api, "/v1/log/proof/inclusion", index=i, size=n).json()["hashes"]]
        assert outside.verify_inclusion(outside.leaf_hash(entries[i], "sm3"), i, n, path, root_n, "sm3")
    answer = get(api, f"/v1/persons/{people[0]}/history", with_proofs="true").json()
    _, size, root = outside.open_checkpoint(answer["checkpoint"], vkey)
    for event in answer["events"]:
        assert outside.verify_inclusion(outside.leaf_hash(base64.b64decode(event["leaf"]), "sm3"), event["leaf_index"],
                                        size, [base64.b64decode(x) for x in event["inclusion"]], root, "sm3")
    saved = tmp_path / "auditor"
    assert audit("http://testserver", saved, vkey, api.tokens["auditor"], client=api).ok
    some_history(api, 1)
    checkpoint_now(api)
    again = audit("http://testserver", saved, vkey, api.tokens["auditor"], client=api)
    assert again.ok and "consistent" in again.message, again.message


def test_ledger_log_verify_checks_an_sm_log_and_finds_a_changed_event(sm_mode, api, store_env, key_file):
    some_history(api, 3)
    checkpoint_now(api)
    env = {**ledger_environ(store_env), "LEDGER_LOG_KEY": str(key_file), "LEDGER_LOG_ORIGIN": "ledger.example/500110",
           "LEDGER_LOG_ALGORITHMS": "sm2-sm3"}

    def verify() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "api.cli", "log", "verify", "--quiet"], env=env, cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    done = verify()
    assert done.returncode == 0 and done.stdout.startswith("verified:"), done.stdout + done.stderr
    tamper(api.ledger, "byte", 3)
    found = verify()
    assert found.returncode == 1 and "position 3" in found.stdout, found.stdout


def test_a_log_never_mixes_algorithms(api, store_env, key_file, monkeypatch):
    """A log made with Ed25519/SHA-256 refuses the 国密 mode, and the other way round."""
    some_history(api, 1)
    checkpoint_now(api)
    env = {**ledger_environ(store_env), "LEDGER_LOG_KEY": str(key_file), "LEDGER_LOG_ALGORITHMS": "sm2-sm3"}
    done = subprocess.run([sys.executable, "-m", "api.cli", "log", "checkpoint"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "LEDGER_LOG_ALGORITHMS" in done.stderr and "never mixes" in done.stderr
    assert "Traceback" not in done.stderr

    monkeypatch.setenv("LEDGER_LOG_ALGORITHMS", "sm3-only")
    from domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="ed25519-sha256 or sm2-sm3"):
        VerifiableLog.of(api.ledger.store, api.ledger.env)


def test_an_sm_log_refuses_to_start_with_a_key_others_can_read(sm_mode, api, store_env, key_file):
    some_history(api, 1)
    checkpoint_now(api)
    os.chmod(key_file, 0o644)
    env = {**ledger_environ(store_env), "LEDGER_LOG_KEY": str(key_file), "LEDGER_LOG_ALGORITHMS": "sm2-sm3"}
    for command in (["log", "key"], ["serve", "--port", "1"]):
        done = subprocess.run([sys.executable, "-m", "api.cli", *command], env=env, cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode != 0 and "LEDGER_LOG_KEY" in done.stderr and "chmod 600" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_a_witness_cosigns_an_sm_log_checking_its_sm3_proofs(sm_mode, api, tmp_path):
    from projections.witnesses import push
    from served import free_port
    from test_witness import RunningWitness

    log = api.app.state.log
    witness = RunningWitness("w.example/witness", "", f"http://127.0.0.1:{free_port()}", tmp_path / "w.state",
                             tmp_path / "w.key", log.signer.verifier_key())
    witness.start()
    try:
        for persons in (2, 2):
            some_history(api, persons)
            checkpoint_now(api)
            outcome = push(log, log.tables.checkpoint(), [witness.address])[0]
            assert outcome.cosigned, outcome.message
        # A forked SM log (another root at the witnessed size) is refused.
        from projections.notes import checkpoint_text

        forged = log.signer.sign(checkpoint_text(log.origin, log.size(), b"\x01" * 32))
        import httpx

        r = httpx.post(f"{witness.url}/add-checkpoint", content=f"old {log.size()}\n\n{forged}".encode(), timeout=10)
        assert r.status_code == 422
    finally:
        witness.stop()
