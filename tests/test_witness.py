"""Witnesses of the verifiable log (C2SP tlog-witness, tlog-cosignature): two `ledger witness
serve` processes cosign a growing log, refuse a forked one and every malformed request without
changing their state, and an auditor who requires a quorum rejects what it does not reach."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.services.audit import audit
from conftest import ledger_environ
from projections.cosign import note_body, verify_cosignature
from projections.witnesses import WitnessAddress, cosigned_note, push
from served import free_port
from test_verifiable_log import checkpoint_now, get, key_file, raw, some_history, tamper  # noqa: F401 - key_file: a fixture

ROOT = Path(__file__).resolve().parents[1]
DASH = "\u2014"


@dataclass
class RunningWitness:
    name: str
    vkey: str
    url: str
    state: Path
    key: Path
    log_key: str
    process: subprocess.Popen | None = None

    @property
    def address(self) -> WitnessAddress:
        return WitnessAddress(self.name, self.vkey, self.url)

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "witness", "serve", "--name", self.name, "--key", str(self.key),
             "--state", str(self.state), "--log-key", self.log_key, "--port", self.url.rsplit(":", 1)[1]],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.vkey = self.process.stdout.readline().split()[-1]
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.post(f"{self.url}/add-checkpoint", content=b"", timeout=1)
                return
            except httpx.HTTPError:
                assert time.monotonic() < deadline and self.process.poll() is None, "the witness did not start"
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        self.process.send_signal(sig)
        self.process.wait(20)

    def state_bytes(self) -> bytes:
        return self.state.read_bytes() if self.state.exists() else b""


def start_witnesses(folder: Path, log_key: str) -> list[RunningWitness]:
    """Two witnesses of the log with this verifier key, each a process with its key and state in `folder`."""
    running = []
    for n in (1, 2):
        w = RunningWitness(f"w{n}.example/witness", "", f"http://127.0.0.1:{free_port()}", folder / f"w{n}.state",
                           folder / f"w{n}.key", log_key)
        w.start()
        running.append(w)
    return running


@pytest.fixture
def witnesses(api, tmp_path):
    running = start_witnesses(tmp_path, api.app.state.log.signer.verifier_key())
    yield running
    for w in running:
        if w.process.poll() is None:
            w.stop()


def checkpoint_pushed(api, running: list[RunningWitness]) -> tuple[str, list]:
    checkpoint_now(api)
    log = api.app.state.log
    latest = log.tables.checkpoint()
    outcomes = push(log, latest, [w.address for w in running])
    return cosigned_note(log, latest), outcomes


def check_cosignature_by_hand(note: str, witness: RunningWitness) -> None:
    """The line's layout read without the product's code: key id, big-endian time, signature over
    'cosignature/v1', the time line and the checkpoint's body."""
    import hashlib

    raw_key = base64.b64decode(witness.vkey.split("+", 2)[2])
    assert raw_key[0] == 0x04
    key_id = hashlib.sha256(witness.name.encode() + b"\n" + raw_key).digest()[:4]
    line = next(ln for ln in note.splitlines() if ln.startswith(f"{DASH} {witness.name} "))
    blob = base64.b64decode(line.split(" ")[2])
    assert len(blob) == 76 and blob[:4] == key_id
    stamp = int.from_bytes(blob[4:12], "big")
    assert abs(stamp - time.time()) < 600
    body = note.split("\n\n")[0] + "\n"
    Ed25519PublicKey.from_public_bytes(raw_key[1:]).verify(blob[12:], f"cosignature/v1\ntime {stamp}\n{body}".encode())


def test_two_witnesses_cosign_a_growing_log_and_an_auditor_requires_both(api, witnesses, tmp_path):
    some_history(api, 2)
    note, outcomes = checkpoint_pushed(api, witnesses)
    assert [o.cosigned for o in outcomes] == [True, True], outcomes
    served = get(api, "/v1/log/checkpoint").text
    assert served == note and served.count(f"\n{DASH} ") == 3  # the log's signature and two cosignatures
    for w in witnesses:
        check_cosignature_by_hand(served, w)
    saved, log_key = tmp_path / "auditor.checkpoint", witnesses[0].log_key
    keys = [w.vkey for w in witnesses]
    first = audit("http://testserver", saved, log_key, api.tokens["auditor"], client=api, witness_keys=keys, quorum=2)
    assert first.ok and "cosigned by 2 of 2" in first.message, first.message

    some_history(api, 2)  # the log grows: each witness checks the consistency proof from its last size
    before = [int(w.state_bytes().count(b"size")) for w in witnesses]
    note, outcomes = checkpoint_pushed(api, witnesses)
    assert [o.cosigned for o in outcomes] == [True, True], outcomes
    assert before == [1, 1]
    again = audit("http://testserver", saved, log_key, api.tokens["auditor"], client=api, witness_keys=keys, quorum=2)
    assert again.ok and "consistent" in again.message, again.message
    # Asking again changes nothing: each has cosigned this checkpoint already.
    assert all(o.cosigned and "before" in o.message for o in push(api.app.state.log, api.app.state.log.tables.checkpoint(),
                                                                  [w.address for w in witnesses]))


def test_a_forked_log_is_refused_by_each_witness_and_their_state_stays(api, witnesses, tmp_path):
    some_history(api, 3)
    _, outcomes = checkpoint_pushed(api, witnesses)
    assert all(o.cosigned for o in outcomes)
    states = [w.state_bytes() for w in witnesses]
    log = api.app.state.log
    size = log.size()
    # The forger rewrites a past event, makes the tree again and signs it with the log's own key.
    tamper(api.ledger, "byte", 3)
    for table in ("tlog_tiles", "tlog_runs", "tlog_state", "tlog_checkpoints"):
        raw(api.ledger, f"DELETE FROM {table}", f"DELETE FROM S.{table}")
    log.tree._cache.clear()
    assert log.catch_up() == size
    forged = log.checkpoint()
    outcomes = push(log, forged, [w.address for w in witnesses])
    assert [o.cosigned for o in outcomes] == [False, False]
    assert all("HTTP 422" in o.message and "forked" in o.message for o in outcomes), outcomes
    assert [w.state_bytes() for w in witnesses] == states

    some_history(api, 1)  # grown on top of the fork: the consistency proof from what they saw fails
    log.catch_up()
    grown = log.checkpoint()
    outcomes = push(log, grown, [w.address for w in witnesses])
    assert all(not o.cosigned and "HTTP 422" in o.message and "consistency proof fails" in o.message
               for o in outcomes), outcomes
    assert [w.state_bytes() for w in witnesses] == states
    keys = [w.vkey for w in witnesses]
    caught = audit("http://testserver", tmp_path / "fresh-auditor", witnesses[0].log_key, api.tokens["auditor"],
                   client=api, witness_keys=keys, quorum=1)
    assert not caught.ok and "cosigned by 0 of the 2" in caught.message, caught.message


def test_an_auditor_requiring_two_rejects_a_checkpoint_one_witness_refused(api, witnesses, tmp_path):
    some_history(api, 2)
    _, outcomes = checkpoint_pushed(api, witnesses)
    assert all(o.cosigned for o in outcomes)
    # The second witness was shown another view of the log at this size (a split view).
    second = witnesses[1]
    second.stop()
    state = second.state.read_text()
    root = base64.b64encode(b"\x07" * 32).decode()
    import json

    data = json.loads(state)
    origin = next(iter(data["logs"]))
    data["logs"][origin]["root"] = root
    second.state.write_text(json.dumps(data))
    second.start()

    some_history(api, 1)
    note, outcomes = checkpoint_pushed(api, witnesses)
    assert [o.cosigned for o in outcomes] == [True, False], outcomes
    keys = [w.vkey for w in witnesses]
    both = audit("http://testserver", tmp_path / "a", witnesses[0].log_key, api.tokens["auditor"], client=api,
                 witness_keys=keys, quorum=2)
    assert not both.ok and "cosigned by 1 of the 2" in both.message and second.name in both.message, both.message
    one = audit("http://testserver", tmp_path / "b", witnesses[0].log_key, api.tokens["auditor"], client=api,
                witness_keys=keys, quorum=1)
    assert one.ok, one.message


def cosigned_by(api, w: RunningWitness, persons: int = 2):
    """Some history, a checkpoint of it, and that checkpoint cosigned by `w`."""
    some_history(api, persons)
    checkpoint_now(api)
    log = api.app.state.log
    checkpoint = log.tables.checkpoint()
    assert push(log, checkpoint, [w.address])[0].cosigned
    return log, checkpoint


def _request(api, old: int, proof: list[bytes], note: str) -> bytes:
    return (f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + note).encode()


def test_a_witness_refuses_bad_requests_naming_why_and_changes_nothing(api, witnesses):
    w = witnesses[0]
    log, first = cosigned_by(api, w)
    some_history(api, 2)
    checkpoint_now(api)
    second = log.tables.checkpoint()
    proof = log.tree.consistency(first.size, second.size)
    state = w.state_bytes()

    def post(body: bytes) -> httpx.Response:
        return httpx.post(f"{w.url}/add-checkpoint", content=body, timeout=10)

    bad_proof = [proof[0][:-1] + bytes([proof[0][-1] ^ 1]), *proof[1:]]
    r = post(_request(api, first.size, bad_proof, second.note))
    assert r.status_code == 422 and "consistency proof fails" in r.text
    r = post(_request(api, 0, [], first.note))  # an older checkpoint than the one it cosigned
    assert r.status_code == 409 and r.text == f"{first.size}\n" and r.headers["content-type"] == "text/x.tlog.size"
    r = post(_request(api, first.size, [], first.note.replace(first.note.split("\n")[1], str(first.size - 1), 1)))
    assert r.status_code == 403  # the size changed after signing: the log's signature fails
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from projections.notes import Signer, checkpoint_text

    stranger = Signer("another.example/log", Ed25519PrivateKey.generate())
    r = post(_request(api, 0, [], stranger.sign(checkpoint_text("another.example/log", 1, b"\x00" * 32))))
    assert r.status_code == 404 and "does not witness" in r.text
    body = second.note.split("\n\n")[0] + "\n\n"
    assert post(_request(api, first.size, proof, body)).status_code == 403  # no signature at all
    assert post(b"old 01\n\n" + second.note.encode()).status_code == 400
    assert post(b"hello").status_code == 400
    assert post(_request(api, second.size + 1, [], second.note)).status_code == 400
    assert post(_request(api, first.size, proof, second.note) + b"x" * 70_000).status_code == 413
    assert post(b"\xff\xfe" * 10).status_code == 400
    assert w.state_bytes() == state

    # The same request well formed is cosigned.
    r = post(_request(api, first.size, proof, second.note))
    assert r.status_code == 200 and r.text.startswith(f"{DASH} {w.name} ")
    assert verify_cosignature(second.note + r.text, w.vkey) > 0
    assert note_body(second.note + r.text) == second.note.split("\n\n")[0] + "\n"


def test_a_witness_killed_after_cosigning_keeps_what_it_signed(api, witnesses):
    w = witnesses[0]
    log, cosigned = cosigned_by(api, w)
    w.stop(signal.SIGKILL)
    w.start()
    # Another tree of the same size, signed by the log's key: refused after the restart too.
    from projections.notes import checkpoint_text

    other = log.signer.sign(checkpoint_text(log.origin, cosigned.size, b"\x09" * 32))
    r = httpx.post(f"{w.url}/add-checkpoint", content=_request(api, cosigned.size, [], other), timeout=10)
    assert r.status_code == 422 and "forked" in r.text


def test_ledger_log_checkpoint_asks_the_configured_witnesses(api, witnesses, store_env, key_file):
    some_history(api, 2)
    env = {**ledger_environ(store_env), "LEDGER_LOG_KEY": str(key_file), "LEDGER_LOG_ORIGIN": "ledger.example/500110",
           "LEDGER_WITNESSES": ", ".join(f"{w.vkey} {w.url}" for w in witnesses)}
    done = subprocess.run([sys.executable, "-m", "api.cli", "log", "checkpoint"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert all(f"witness {w.name}: cosigned" in done.stderr for w in witnesses), done.stderr
    for w in witnesses:
        verify_cosignature(done.stdout, w.vkey)

    env["LEDGER_WITNESSES"] = "http://127.0.0.1:1 w.example+00000000+AAAA"
    bad = subprocess.run([sys.executable, "-m", "api.cli", "log", "checkpoint"], env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode != 0 and "LEDGER_WITNESSES" in bad.stderr and "Traceback" not in bad.stderr


def test_a_witness_refuses_to_start_with_a_bad_log_key(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    done = subprocess.run([sys.executable, "-m", "api.cli", "witness", "serve", "--name", "w.example", "--key",
                           str(tmp_path / "k"), "--state", str(tmp_path / "s"), "--log-key", "not-a-key",
                           "--port", str(free_port())], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "--log-key" in done.stderr and "Traceback" not in done.stderr


def test_serve_has_its_checkpoints_cosigned_and_the_audit_command_requires_a_quorum(tmp_path):
    """As a bureau runs it: `ledger serve` with LEDGER_WITNESSES sends each new checkpoint to both
    witnesses and serves it with their cosignatures; the auditor's `ledger log audit --quorum 2`
    passes, then fails once a witness is away and a newer checkpoint carries one cosignature."""
    from served import ledger, ledger_env, serving, token

    env = ledger_env(tmp_path, LEDGER_LOG_ORIGIN="ledger.example/500110")
    secret = token(tmp_path, env, "auditor", "outside")
    vkey = ledger(tmp_path, env, "log", "key").stdout.strip()
    running = start_witnesses(tmp_path, vkey)
    env["LEDGER_WITNESSES"] = ", ".join(f"{w.vkey} {w.url}" for w in running)
    saved = str(tmp_path / "auditor.checkpoint")
    try:
        with serving(tmp_path, env, "--no-access-log") as base:
            def served_note() -> str:
                return httpx.get(f"{base}/v1/log/checkpoint", headers={"Authorization": f"Bearer {secret}"}).text

            def audit_with(quorum: int) -> subprocess.CompletedProcess:
                keys = [arg for w in running for arg in ("--witness-key", w.vkey)]
                return ledger(tmp_path, env, "log", "audit", "--url", base, "--checkpoint", saved, "--key", vkey,
                              "--token", secret, *keys, "--quorum", str(quorum))

            token(tmp_path, env, "auditor", "another")  # writes: serve's log makes a checkpoint and sends it
            deadline = time.monotonic() + 60
            while not all(f"{DASH} {w.name} " in served_note() for w in running):
                assert time.monotonic() < deadline, served_note()
                time.sleep(0.5)
            both = audit_with(2)
            assert both.returncode == 0 and "cosigned by 2 of 2" in both.stdout, both.stdout + both.stderr

            running[1].stop()  # one witness away: the next checkpoint has the other's cosignature only
            size = int(served_note().split("\n")[1])
            token(tmp_path, env, "auditor", "a-third")
            deadline = time.monotonic() + 60
            while not (int(served_note().split("\n")[1]) > size and f"{DASH} {running[0].name} " in served_note()):
                assert time.monotonic() < deadline, served_note()
                time.sleep(0.5)
            short = audit_with(2)
            assert short.returncode == 1 and "cosigned by 1 of the 2" in short.stdout, short.stdout
            assert running[1].name in short.stdout
            assert audit_with(1).returncode == 0
    finally:
        for w in running:
            if w.process.poll() is None:
                w.stop()
