"""Backups of the embedded SQLite ledger and their restore (PostgreSQL: pg_dump, see README).

A backup is one consistent snapshot taken by SQLite's online backup API in a single step: in WAL
mode the writers go on meanwhile, and the copy holds every transaction committed before it began
and none after. Beside it goes FILE.sha256, so an altered or truncated copy is known before it is
used. A restore checks, in a copy beside the ledger and before touching anything: the checksum,
SQLite's integrity check, and the verifiable log (every leaf and tile recomputed from the events,
every kept checkpoint's signature). Only then does the copy take the ledger's place; the database
it replaces is kept beside it, never deleted. The report projection is left to rebuild itself, as
its position would belong to the replaced ledger.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from domain.errors import Conflict, InvalidInput


class BackupRefused(InvalidInput):
    """A backup that will not be restored, and why."""


@dataclass
class Restored:
    events: int
    verified: int  # events the log's tree covers, each recomputed
    checkpoints: int
    kept_as: Path | None  # where the replaced database now is


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(source: Path, out: Path) -> int:
    """Write a consistent copy of the ledger at `source` to `out` (and `out`.sha256); the number of
    events it holds. Nothing is left at `out` if it fails."""
    if not source.exists():
        raise InvalidInput(f"there is no ledger at {source}", "LEDGER_DB", "ledger_exists")
    if out.exists():
        raise Conflict(f"{out} exists already: a backup never overwrites one", "OUT", "backup_exists")
    partial = out.with_name(out.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(partial) as dst:
            src.backup(dst)  # pages=-1: one step, one snapshot, while writers carry on
            # One self-contained file: no write-ahead log beside it that the checksum would not cover.
            dst.execute("PRAGMA journal_mode=DELETE")
            events = dst.execute("SELECT count(*) FROM stored_events").fetchone()[0]
        _fsync(partial)
        checksum = _sha256(partial)
        os.replace(partial, out)
        sidecar = out.with_name(out.name + ".sha256")
        sidecar.write_text(f"{checksum}  {out.name}\n", encoding="ascii")
        _fsync(sidecar)
        return int(events)
    finally:
        partial.unlink(missing_ok=True)


def _checked_copy(backup_file: Path, target: Path) -> Path:
    """The backup copied beside the target after its checksum and integrity check pass."""
    sidecar = backup_file.with_name(backup_file.name + ".sha256")
    if not backup_file.is_file():
        raise BackupRefused(f"there is no backup at {backup_file}", "FILE", "backup_exists")
    if not sidecar.is_file():
        raise BackupRefused(f"{sidecar.name} is missing beside the backup: without its checksum an altered copy"
                            " cannot be told from a good one", "FILE", "backup_checksum")
    expected = sidecar.read_text(encoding="ascii", errors="replace").split()[:1]
    if expected != [_sha256(backup_file)]:
        raise BackupRefused("the backup's SHA-256 differs from its checksum file: it was altered or cut short"
                            " after it was written", "FILE", "backup_checksum")
    candidate = target.with_name(target.name + ".restoring")
    candidate.unlink(missing_ok=True)
    try:
        with sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True) as src, sqlite3.connect(candidate) as dst:
            src.backup(dst)
            verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
            tables = {r[0] for r in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as e:
        candidate.unlink(missing_ok=True)
        raise BackupRefused(f"the backup is not a readable SQLite database ({e})", "FILE", "backup_damaged") from None
    if verdict != "ok" or "stored_events" not in tables:
        candidate.unlink(missing_ok=True)
        why = "it holds no ledger events" if verdict == "ok" else f"SQLite's integrity check says: {verdict}"
        raise BackupRefused(f"the backup is not a sound ledger: {why}", "FILE", "backup_damaged")
    return candidate


def restore(backup_file: Path, target: Path, key_file: Path, replace: bool) -> Restored:
    """Check the backup, then put it in the ledger's place (the current one kept beside it)."""
    from domain.store import open_store
    from projections.tlog import VerifiableLog, log_settings, verify

    if target.exists() and not replace:
        raise Conflict(f"a ledger exists at {target}: stop `ledger serve`, then restore with --replace (the"
                       " current database is kept beside it, not deleted)", "LEDGER_DB", "ledger_exists")
    candidate = _checked_copy(backup_file, target)
    try:
        env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(candidate)}
        # The store alone, not a ledger: a backup of an earlier release's schema is restored as it is,
        # and `ledger migrate` brings it up to date afterwards.
        store = open_store(env)
        try:
            origin, _ = log_settings(env)
            log = VerifiableLog(store, origin, key_file, env)
            if not key_file.exists() and log.tables.all_checkpoints():
                raise BackupRefused(f"the log's signing key is not at {key_file}: restore it from where it is kept"
                                    " (or set LEDGER_LOG_KEY), so the backup's checkpoints can be checked",
                                    "LEDGER_LOG_KEY", "log_key")
            verdict = verify(log)
            events = store.recorder.max_notification_id() or 0
        finally:
            store.close()
        if not verdict.ok:
            raise BackupRefused(f"the backup's verifiable log does not verify: {verdict.problem}", "FILE",
                                "backup_log")
    except BaseException:
        for leftover in (candidate, *_companions(candidate)):
            leftover.unlink(missing_ok=True)
        raise
    kept_as = None
    if target.exists():
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        kept_as = target.with_name(f"{target.name}.before-restore-{stamp}")
        for path, moved in ((target, kept_as), *zip(_companions(target), _companions(kept_as))):
            if path.exists():
                os.replace(path, moved)
    for stale in _companions(candidate):
        stale.unlink(missing_ok=True)
    os.replace(candidate, target)
    views = target.with_suffix(".views" + target.suffix)
    for path in (views, *_companions(views)):
        if path.exists():  # the projection of the replaced ledger: rebuilt from the restored log
            os.replace(path, path.with_name(path.name + ".before-restore"))
    return Restored(events, verdict.checked, verdict.checkpoints, kept_as)


def _companions(db: Path) -> tuple[Path, Path]:
    return db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")
