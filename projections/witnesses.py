"""The witnesses the ledger asks to cosign its checkpoints (LEDGER_WITNESSES), and the asking.

LEDGER_WITNESSES names each witness by its verifier key and address, separated by commas:

    LEDGER_WITNESSES="audit.cq+1a2b3c4d+BP...= http://10.1.2.3:7380, czj.cq+5e6f7a8b+BA...= https://w.example"

After each new checkpoint, the ledger sends it to every witness with a consistency proof from the
last checkpoint that witness cosigned (C2SP tlog-witness; a witness that answers 409 says its own
size, and the ledger sends the proof from there once more). A cosignature that verifies against
the witness's key is kept with the checkpoint, and the checkpoint is served with every one it got.
A witness that refuses or cannot be reached holds nothing up: the checkpoint simply carries fewer
cosignatures, and the refusal is logged with the witness's reason.
"""

from __future__ import annotations

import base64
import logging
import os
from dataclasses import dataclass

import httpx

from domain.errors import InvalidInput
from projections.cosign import parse_cosigner_key, verify_cosignature
from projections.notes import NoteError
from projections.tlog import Checkpoint, VerifiableLog

log = logging.getLogger("ledger.witnesses")
TIMEOUT_SECONDS = 10.0
_last_said: dict[str, str] = {}  # per witness, the refusal last logged


@dataclass(frozen=True)
class WitnessAddress:
    name: str
    vkey: str
    url: str


@dataclass(frozen=True)
class Outcome:
    witness: str
    cosigned: bool
    message: str


def configured(environ: dict[str, str] | None = None) -> list[WitnessAddress]:
    """LEDGER_WITNESSES read; a malformed entry stops the start, naming it."""
    text = (os.environ if environ is None else environ).get("LEDGER_WITNESSES", "")
    found = []
    for entry in (e.strip() for e in text.replace("\n", ",").split(",")):
        if not entry:
            continue
        parts = entry.split()
        if len(parts) != 2 or not parts[1].startswith(("http://", "https://")):
            raise InvalidInput(f"each witness is '<verifier key> <http(s) address>', got {entry[:120]!r}",
                               "LEDGER_WITNESSES", "witness_entry")
        try:
            name, _, _ = parse_cosigner_key(parts[0])
        except NoteError as e:
            raise InvalidInput(f"{e}: {parts[0][:120]!r}", "LEDGER_WITNESSES", "witness_key") from None
        found.append(WitnessAddress(name, parts[0], parts[1].rstrip("/")))
    return found


def cosigned_note(log_: VerifiableLog, checkpoint: Checkpoint) -> str:
    """The checkpoint's signed note with the witnesses' cosignature lines added."""
    return checkpoint.note + "".join(log_.tables.cosignature_lines(checkpoint.size))


def push(log_: VerifiableLog, checkpoint: Checkpoint, witnesses: list[WitnessAddress],
         client: httpx.Client | None = None) -> list[Outcome]:
    """Ask each witness that has not cosigned `checkpoint` yet; what each answered."""
    outcomes = []
    with client or httpx.Client(timeout=TIMEOUT_SECONDS) as http:
        for witness in witnesses:
            try:
                outcomes.append(_ask(log_, checkpoint, witness, http))
            except httpx.HTTPError as e:
                outcomes.append(Outcome(witness.name, False, f"could not be reached at {witness.url}: {e}"))
    for o in outcomes:
        # Said once per change, not at every round while a witness stays away.
        if not o.cosigned and _last_said.get(o.witness) != o.message:
            log.warning("witness %s did not cosign the checkpoint of %d leaves: %s", o.witness, checkpoint.size,
                        o.message)
        _last_said[o.witness] = "" if o.cosigned else o.message
    return outcomes


def _ask(log_: VerifiableLog, checkpoint: Checkpoint, witness: WitnessAddress, http: httpx.Client) -> Outcome:
    for line in log_.tables.cosignature_lines(checkpoint.size):
        try:
            verify_cosignature(checkpoint.note + line, witness.vkey)
            return Outcome(witness.name, True, "cosigned before")
        except NoteError:
            continue  # another witness's line, or one over another tree of this size
    old = log_.tables.last_cosigned(witness.name)
    for _ in range(2):
        if old > checkpoint.size:
            return Outcome(witness.name, False, f"the witness has cosigned {old} leaves, more than this checkpoint's"
                                                f" {checkpoint.size}")
        proof = log_.tree.consistency(old, checkpoint.size) if 0 < old < checkpoint.size else []
        body = f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + checkpoint.note
        r = http.post(f"{witness.url}/add-checkpoint", content=body.encode())
        if r.status_code == 409 and r.text.strip().isdigit() and int(r.text) != old:
            old = int(r.text)  # the witness's own size: once more, with the proof from there
            continue
        if r.status_code != 200:
            reason = r.headers.get("Witness-Refusal") or r.text.strip()[:300]
            return Outcome(witness.name, False, f"refused (HTTP {r.status_code}): {reason}")
        line = r.text if r.text.endswith("\n") else r.text + "\n"
        try:
            verify_cosignature(checkpoint.note + line, witness.vkey)
        except NoteError as e:
            return Outcome(witness.name, False, f"answered with a cosignature that does not verify: {e}")
        log_.tables.add_cosignature(checkpoint.size, witness.name, line)
        return Outcome(witness.name, True, f"cosigned {checkpoint.size} leaves")
    return Outcome(witness.name, False, "the witness's size kept changing; try again")
