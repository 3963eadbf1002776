"""An outside auditor's check of a live ledger against the checkpoint they saved last time: the
new checkpoint's signature by the key they hold, the cosignatures of at least `quorum` of the
witnesses they trust (so the server cannot show them a log it shows no one else), its consistency
with the saved one (an RFC 9162 proof fetched from the server and checked here), then the new one
saved for next time."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

import httpx

from projections import merkle
from projections.cosign import verify_cosignature
from projections.notes import NoteError, open_note, parse_checkpoint, tree_hash_of


@dataclass
class AuditResult:
    ok: bool
    message: str


def audit(url: str, checkpoint_file: Path, verifier_key: str, token: str, client: httpx.Client | None = None,
          witness_keys: list[str] = (), quorum: int = 0) -> AuditResult:
    client = client or httpx.Client(timeout=60)
    headers = {"Authorization": f"Bearer {token}"}
    base = url.rstrip("/")
    r = client.get(f"{base}/v1/log/checkpoint", headers=headers)
    if r.status_code != 200:
        return AuditResult(False, f"the server did not give its checkpoint: HTTP {r.status_code} {r.text[:200]}")
    new_note = r.text
    try:
        origin, new_size, new_root = parse_checkpoint(open_note(new_note, verifier_key))
    except NoteError as e:
        return AuditResult(False, f"the server's new checkpoint fails: {e}")
    witnessed = _witnessed(new_note, witness_keys, quorum)
    if witnessed is not None and not witnessed.ok:
        return witnessed
    if checkpoint_file.exists():
        try:
            old_origin, old_size, old_root = parse_checkpoint(open_note(checkpoint_file.read_text(), verifier_key))
        except NoteError as e:
            return AuditResult(False, f"the saved checkpoint {checkpoint_file} fails: {e}")
        if old_origin != origin:
            return AuditResult(False, f"the server is the log {origin}, the saved checkpoint is of {old_origin}")
        if new_size < old_size:
            return AuditResult(False, f"the log shrank: {new_size} entries now, {old_size} in the saved checkpoint"
                                      f" (entries from {new_size} on are gone)")
        if new_size == old_size:
            if new_root != old_root:
                return AuditResult(False, f"the log of {old_size} entries has another root than the saved checkpoint:"
                                          f" an entry among the first {old_size} was changed")
        else:
            p = client.get(f"{base}/v1/log/proof/consistency", params={"from": old_size, "to": new_size},
                           headers=headers)
            if p.status_code != 200:
                return AuditResult(False, f"the server gave no consistency proof: HTTP {p.status_code} {p.text[:200]}")
            proof = [base64.b64decode(h) for h in p.json()["hashes"]]
            h = merkle.tree_hash(tree_hash_of(verifier_key))
            if not merkle.verify_consistency(old_size, new_size, old_root, new_root, proof, h):
                return AuditResult(False, f"the log of {new_size} entries does not contain the {old_size} of the saved"
                                          f" checkpoint: an entry among the first {old_size} was changed, removed"
                                          " or reordered")
        message = f"consistent: {old_size} entries then, {new_size} now; checkpoint saved"
    else:
        message = f"first checkpoint: {new_size} entries; saved"
    checkpoint_file.write_text(new_note)
    if witnessed is not None:
        message += f"; {witnessed.message}"
    return AuditResult(True, message)


def _witnessed(note: str, witness_keys: list[str], quorum: int) -> AuditResult | None:
    """Whether at least `quorum` of the witnesses cosigned the checkpoint (None: none asked for)."""
    if not witness_keys:
        return None
    signed, missing = [], []
    for vkey in witness_keys:
        name = vkey.split("+", 1)[0]
        try:
            verify_cosignature(note, vkey)
            signed.append(name)
        except NoteError as e:
            missing.append(f"{name} ({e})")
    if len(signed) < quorum:
        return AuditResult(False, f"the checkpoint is cosigned by {len(signed)} of the {len(witness_keys)} witnesses,"
                                  f" {quorum} are required; not by: {'; '.join(missing)}")
    return AuditResult(True, f"cosigned by {len(signed)} of {len(witness_keys)} witnesses ({', '.join(signed)})")
