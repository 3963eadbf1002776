"""A witness (`ledger witness serve`): run by another body, with its own key and state file, it
cosigns the ledger's checkpoints after checking that each one grew from the last it cosigned.

It speaks C2SP tlog-witness: `POST /add-checkpoint` with the body

    old <size of the last checkpoint it cosigned>
    <consistency proof, one base64 hash a line>

    <the new checkpoint, signed by the log>

and answers 200 with its cosignature line (C2SP tlog-cosignature, projections/cosign.py), or refuses:
404 a log it does not witness, 403 a checkpoint not signed by that log's key, 400 a malformed
request, 409 an old size other than its own (the body says its size: a rollback, or a log that
has moved on without it), 422 a proof that does not verify or a root that differs at the same
size (a forked log). Every refusal says why and changes nothing.

The state (per log: the size and root hash it last cosigned) is written to disk, synced and renamed
into place before the cosignature is returned, under a file lock, so a crash or a second process
can never make it cosign two different trees of one size.
"""

from __future__ import annotations

import base64
import binascii
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response

from projections import merkle
from projections.cosign import Cosigner, note_body
from projections.notes import NoteError, note_verifier, open_note, parse_checkpoint, tree_hash_of

# A request larger than this is refused unread: 63 proof lines and a checkpoint with a few
# signatures take under 8 KiB.
MAX_BODY = 64 * 1024
MAX_PROOF = 63


@dataclass
class Answer:
    status: int
    body: str
    content_type: str = "text/plain; charset=utf-8"
    reason: str = ""  # why a 409 was refused (its body is only the size, as the protocol says)


class WitnessState:
    """Per log origin, the size and root of the checkpoint last cosigned: a JSON file."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def read(self) -> dict[str, dict[str, object]]:
        if not self.path.exists():
            return {}
        return json.loads(self.path.read_text(encoding="utf-8"))["logs"]

    @contextmanager
    def locked(self) -> Iterator[dict[str, dict[str, object]]]:
        """The state, held against other threads and processes until the block ends."""
        with self._lock, open(self.path.with_suffix(self.path.suffix + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self.read()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def write(self, logs: dict[str, dict[str, object]]) -> None:
        """Durably: a new file synced, then renamed over the old, then the folder synced."""
        temporary = self.path.with_suffix(self.path.suffix + ".new")
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump({"logs": logs}, f, indent=1, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


class Witness:
    def __init__(self, cosigner: Cosigner, state: WitnessState, log_keys: list[str]):
        self.cosigner = cosigner
        self.state = state
        self.logs: dict[str, str] = {}  # origin -> the log's verifier key
        for vkey in log_keys:
            name, _, _ = note_verifier(vkey)  # a bad key stops the start, naming it
            self.logs[name] = vkey.strip()

    def add_checkpoint(self, body: bytes) -> Answer:
        if len(body) > MAX_BODY:
            return Answer(413, f"the request is larger than {MAX_BODY} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return Answer(400, "the request is not UTF-8 text")
        head, sep, note = text.partition("\n\n")
        if not sep:
            return Answer(400, "the request has no empty line between the old size and proof, and the checkpoint")
        lines = head.split("\n")
        first = lines[0]
        if not first.startswith("old ") or not _decimal(first[4:]):
            return Answer(400, "the first line must be 'old <size>' (a decimal without leading zeroes)")
        old = int(first[4:])
        if len(lines) - 1 > MAX_PROOF:
            return Answer(400, f"the consistency proof has more than {MAX_PROOF} lines")
        try:
            proof = [base64.b64decode(line, validate=True) for line in lines[1:]]
        except (binascii.Error, ValueError):
            return Answer(400, "a consistency proof line is not base64")
        if any(len(h) != 32 for h in proof):
            return Answer(400, "a consistency proof line is not a 32-byte hash")
        origin = note.split("\n", 1)[0]
        vkey = self.logs.get(origin)
        if vkey is None:
            return Answer(404, f"this witness does not witness the log {origin[:100]!r}")
        try:
            _, size, root = parse_checkpoint(open_note(note, vkey))
        except NoteError as e:
            return Answer(403, f"the checkpoint is not signed by the log's key: {e}")
        if old > size:
            return Answer(400, f"the old size {old} is above the checkpoint's size {size}")
        h = merkle.tree_hash(tree_hash_of(vkey))
        if size == 0 and root != h.empty:
            return Answer(422, "a checkpoint of size 0 must have the empty tree's root")
        with self.state.locked() as logs:
            known = logs.get(origin, {"size": 0, "root": base64.b64encode(h.empty).decode()})
            known_size, known_root = int(known["size"]), base64.b64decode(str(known["root"]))
            if old != known_size:
                why = (f"the checkpoint of {size} leaves is older than the one of {known_size} this witness"
                       " cosigned (a rollback)" if size < known_size else
                       f"old size {old} is not the size this witness last cosigned ({known_size})")
                return Answer(409, f"{known_size}\n", "text/x.tlog.size", why)
            if old == 0 and proof:
                return Answer(422, "a consistency proof from size 0 must be empty")
            if old == size and (root != known_root or proof):
                return Answer(422, f"the log's tree of {size} leaves has another root than the one this witness"
                                   " cosigned: the log was forked (an entry was changed)")
            if 0 < old < size and not merkle.verify_consistency(old, size, known_root, root, proof, h):
                return Answer(422, f"the checkpoint of {size} leaves does not extend the one of {old} this witness"
                                   " cosigned: the consistency proof fails (the log was forked, or an entry changed)")
            line = self.cosigner.cosign(note_body(note))
            logs[origin] = {"size": size, "root": base64.b64encode(root).decode()}
            self.state.write(logs)  # on disk before the cosignature leaves
        return Answer(200, line, "text/x.tlog.cosignature")


def _decimal(text: str) -> bool:
    return text.isdigit() and text.isascii() and (text == "0" or not text.startswith("0"))


def create_witness_app(witness: Witness) -> FastAPI:
    """The witness's HTTP service: POST /add-checkpoint."""
    app = FastAPI(title="Checkpoint witness (C2SP tlog-witness)", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return Response(f"the request is larger than {MAX_BODY} bytes", 413, media_type="text/plain")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return Response(f"the request is larger than {MAX_BODY} bytes", 413, media_type="text/plain")
        answer = witness.add_checkpoint(body)
        # The content type exactly as the protocol names it (no charset added).
        headers = {"content-type": answer.content_type}
        if answer.reason:
            headers["Witness-Refusal"] = answer.reason
        return Response(answer.body.encode(), answer.status, headers=headers)

    return app
