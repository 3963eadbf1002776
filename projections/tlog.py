"""The verifiable log: every stored event a leaf of an append-only Merkle tree (RFC 9162), kept
in the ledger's own database as C2SP tlog-tiles keep it, with signed checkpoints.

Leaf i is the event at the (i+1)-th place of the store's global order (notification ids):
    u64be(position) || originator_id (16 bytes) || u64be(originator_version)
    || u16be(len(topic)) || topic (UTF-8) || state (the stored bytes)
docs/verifiable-log.md gives the whole format with a worked example.

The tree is stored as tiles: a tile (level L, index i) holds up to 256 hashes of the complete
subtrees of height 8L that start at leaf (i * 256) * 2**(8L); level 0 holds the leaf hashes. The
rightmost tile of each level is partial and is rewritten as it fills. Any complete subtree's hash,
and so any tree head and proof, is read from at most a few tiles. Leaf positions (notification
ids) are kept as runs: a new run starts where an id was skipped (a rolled-back insert consumes a
PostgreSQL id), so leaf index and position convert both ways.

The tree follows the log like a projection: appending to it never slows a payment's commit.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.dates import now
from domain.errors import InvalidInput
from domain.store import EventStore
from domain.tables import OwnTables
from projections import merkle
from projections.notes import Signer, checkpoint_text
from projections.sm2 import SM2Signer

# The log's algorithms (signature and tree hash), chosen when it is made: the tree hash of each.
ALGORITHMS = {"ed25519-sha256": "sha256", "sm2-sm3": "sm3"}
DEFAULT_ALGORITHMS = "ed25519-sha256"
TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH = 32
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")


def leaf_bytes(position: int, originator_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    t = topic.encode()
    return b"".join((_U64.pack(position), originator_id, _U64.pack(version), _U16.pack(len(t)), t, state))


def leaf_hashes(rows: list[tuple[int, bytes, int, str, bytes]], h: merkle.TreeHash = merkle.SHA256) -> list[bytes]:
    """The leaf hashes of stored events, made in one pass without building each leaf apart: the
    0x00 prefix and the leaf's fields joined once and hashed once (the same bytes as
    leaf_hash(leaf_bytes(...)), about twice as fast)."""
    digest, pack, topics = h.digest, _U64.pack, {}
    found = []
    for n, originator, version, topic, state in rows:
        t = topics.get(topic)
        if t is None:
            encoded = topic.encode()
            t = topics[topic] = _U16.pack(len(encoded)) + encoded
        found.append(digest(b"".join((b"\x00", pack(n), originator, pack(version), t, state))))
    return found


def tile_root(hashes: bytes, h: merkle.TreeHash = merkle.SHA256) -> bytes:
    """The hash of the complete subtree that a power-of-two run of hashes makes (a full tile's 256,
    or a part of a tile)."""
    level = [hashes[i:i + HASH] for i in range(0, len(hashes), HASH)]
    while len(level) > 1:
        level = [h.node(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


@dataclass
class Checkpoint:
    size: int
    note: str
    made_at: str


class TreeTables(OwnTables):
    """The tree's tables, in the ledger's database (the same SQLite file, or the same schema)."""

    def __init__(self, store: EventStore):
        super().__init__(store)
        prefix = self.prefix
        self.tiles_table, self.runs = prefix + "tlog_tiles", prefix + "tlog_runs"
        self.state_table, self.checkpoints = prefix + "tlog_state", prefix + "tlog_checkpoints"
        self.cosignatures = prefix + "tlog_cosignatures"
        self.settings = prefix + "tlog_settings"
        blob = "bytea" if self.postgres else "BLOB"
        big = "bigint" if self.postgres else "INTEGER"
        self.create(
            f"CREATE TABLE IF NOT EXISTS {self.tiles_table} (level {big} NOT NULL, idx {big} NOT NULL,"
            f" hashes {blob} NOT NULL, PRIMARY KEY (level, idx))",
            f"CREATE TABLE IF NOT EXISTS {self.runs} (leaf {big} PRIMARY KEY, position {big} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.state_table} (one {big} PRIMARY KEY, size {big} NOT NULL,"
            f" position {big} NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self.checkpoints} (size {big} PRIMARY KEY, note TEXT NOT NULL,"
            " made_at TEXT NOT NULL)",
            # The witnesses' signature lines on the checkpoints they cosigned (projections/witnesses.py).
            f"CREATE TABLE IF NOT EXISTS {self.cosignatures} (size {big} NOT NULL, witness TEXT NOT NULL,"
            " line TEXT NOT NULL, PRIMARY KEY (size, witness))",
            # The algorithms the log was made with, fixed at its first use: a log never mixes them.
            f"CREATE TABLE IF NOT EXISTS {self.settings} (one {big} PRIMARY KEY, algorithms TEXT NOT NULL)",
        )

    def algorithms(self, requested: str | None) -> str:
        """The log's algorithms: those it was made with, or `requested` (else the default) for a new log.
        A request for others than a log already has is refused, naming both."""
        rows = self.query(f"SELECT algorithms FROM {self.settings} WHERE one = 1")
        if not rows:
            chosen = requested or DEFAULT_ALGORITHMS
            size, _ = self.state()
            if size and chosen != DEFAULT_ALGORITHMS:  # a log made before the choice was recorded
                raise InvalidInput(f"asks for {chosen}, but this log already holds {size} leaves made with"
                                   f" {DEFAULT_ALGORITHMS}: a log never mixes algorithms", "LEDGER_LOG_ALGORITHMS",
                                   "log_algorithms_fixed")
            p = self.p
            self.execute((f"INSERT INTO {self.settings} (one, algorithms) VALUES (1, {p}) ON CONFLICT (one) DO NOTHING",
                          (chosen,)))
            rows = self.query(f"SELECT algorithms FROM {self.settings} WHERE one = 1")
        kept = rows[0][0]
        if requested and requested != kept:
            raise InvalidInput(f"asks for {requested}, but this log was made with {kept}: a log never mixes"
                               " algorithms (make a new ledger for the other)", "LEDGER_LOG_ALGORITHMS",
                               "log_algorithms_fixed")
        return kept

    def state(self) -> tuple[int, int]:
        """(leaves in the tree, the last leaf's position)."""
        rows = self.query(f"SELECT size, position FROM {self.state_table} WHERE one = 1")
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    def tile(self, level: int, idx: int) -> bytes:
        rows = self.query(f"SELECT hashes FROM {self.tiles_table} WHERE level = ? AND idx = ?", (level, idx))
        return bytes(rows[0][0]) if rows else b""

    def tiles(self, level: int, first: int, stop: int) -> dict[int, bytes]:
        """The stored tiles of a level with indices first..stop-1, by index."""
        rows = self.query(f"SELECT idx, hashes FROM {self.tiles_table} WHERE level = ? AND idx >= ? AND idx < ?",
                          (level, first, stop))
        return {int(i): bytes(h) for i, h in rows}

    def run_list(self) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in self.query(f"SELECT leaf, position FROM {self.runs} ORDER BY leaf")]

    def save(self, tiles: dict[tuple[int, int], bytes], runs: list[tuple[int, int]], size: int, position: int) -> None:
        """The new and grown tiles, the new runs and the new size, in one transaction."""
        p = self.p
        upsert = (f"INSERT INTO {self.tiles_table} (level, idx, hashes) VALUES ({p}, {p}, {p})"
                  " ON CONFLICT (level, idx) DO UPDATE SET hashes = excluded.hashes")
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self._sql(upsert), [(lv, ix, h) for (lv, ix), h in tiles.items()])
            if runs:
                c.executemany(self._sql(f"INSERT INTO {self.runs} (leaf, position) VALUES ({p}, {p})"), runs)
            c.execute(self._sql(f"INSERT INTO {self.state_table} (one, size, position) VALUES (1, {p}, {p})"
                                " ON CONFLICT (one) DO UPDATE SET size = excluded.size, position = excluded.position"),
                      (size, position))

    def add_checkpoint(self, size: int, note: str, made_at: str) -> None:
        p = self.p
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(f"INSERT INTO {self.checkpoints} (size, note, made_at) VALUES ({p}, {p}, {p})"
                                " ON CONFLICT (size) DO NOTHING"), (size, note, made_at))

    def checkpoint(self, size: int | None = None) -> Checkpoint | None:
        if size is None:
            rows = self.query(f"SELECT size, note, made_at FROM {self.checkpoints} ORDER BY size DESC LIMIT 1")
        else:
            rows = self.query(f"SELECT size, note, made_at FROM {self.checkpoints} WHERE size = ?", (size,))
        return Checkpoint(int(rows[0][0]), rows[0][1], rows[0][2]) if rows else None

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        p = self.p
        with self.datastore.transaction(commit=True) as c:
            c.execute(self._sql(f"INSERT INTO {self.cosignatures} (size, witness, line) VALUES ({p}, {p}, {p})"
                                " ON CONFLICT (size, witness) DO NOTHING"), (size, witness, line))

    def cosignature_lines(self, size: int) -> list[str]:
        return [r[0] for r in self.query(f"SELECT line FROM {self.cosignatures} WHERE size = ? ORDER BY witness",
                                         (size,))]

    def last_cosigned(self, witness: str) -> int:
        """The size of the largest checkpoint the witness cosigned (0: none)."""
        rows = self.query(f"SELECT max(size) FROM {self.cosignatures} WHERE witness = ?", (witness,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else 0

    def all_checkpoints(self) -> list[Checkpoint]:
        return [Checkpoint(int(s), n, m) for s, n, m in
                self.query(f"SELECT size, note, made_at FROM {self.checkpoints} ORDER BY size")]


class Tree:
    """The tree read from its tiles, and grown by appending leaf hashes. Complete tiles never
    change, so they are cached; the partial ones are read each time from the database."""

    def __init__(self, tables: TreeTables, h: merkle.TreeHash = merkle.SHA256, cache_tiles: int = 4096):
        self.tables = tables
        self.hash = h
        self._cache: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._cache_size = cache_tiles
        self._lock = threading.Lock()

    # -- reading ---------------------------------------------------------------------------------

    def _tile(self, level: int, idx: int) -> bytes:
        key = (level, idx)
        with self._lock:
            found = self._cache.get(key)
            if found is not None:
                self._cache.move_to_end(key)
                return found
        hashes = self.tables.tile(level, idx)
        if len(hashes) == TILE_WIDTH * HASH:
            with self._lock:
                self._cache[key] = hashes
                if len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return hashes

    def subtree(self, level: int, index: int) -> bytes:
        """The hash of the complete subtree of 2**level leaves from leaf index * 2**level."""
        tile_level, height = divmod(level, TILE_HEIGHT)
        first = index << height  # its first hash at the tile level
        hashes = self._tile(tile_level, first // TILE_WIDTH)
        offset = (first % TILE_WIDTH) * HASH
        part = hashes[offset:offset + (HASH << height)]
        if len(part) != HASH << height:
            raise LookupError(f"the tree holds no complete subtree at level {level}, index {index}")
        return tile_root(part, self.hash)

    def root(self, size: int) -> bytes:
        return merkle.root(self.subtree, size, self.hash)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(self.subtree, index, size, self.hash)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return merkle.consistency_proof(self.subtree, old, new, self.hash)

    # -- growing ---------------------------------------------------------------------------------

    def grown(self, size: int, leaf_hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
        """The tiles that change when `leaf_hashes` are appended to a tree of `size` leaves."""
        changed: dict[tuple[int, int], bytes] = {}
        level, count, new = 0, size, leaf_hashes
        while new:
            idx = count // TILE_WIDTH
            tile = changed.get((level, idx)) or (self.tables.tile(level, idx) if count % TILE_WIDTH else b"")
            completed: list[bytes] = []
            for h in new:
                tile += h
                count += 1
                if len(tile) == TILE_WIDTH * HASH:
                    changed[(level, idx)] = tile
                    completed.append(tile_root(tile, self.hash))
                    idx, tile = idx + 1, b""
            if tile:
                changed[(level, idx)] = tile
            # The next level up counts the complete tiles below it.
            level, count, new = level + 1, (count // TILE_WIDTH) - len(completed), completed
        return changed


def leaf_position(runs: list[tuple[int, int]], index: int) -> int:
    """The notification id of leaf `index`: its run's first position plus its place in the run."""
    leaf, position = max((r for r in runs if r[0] <= index), default=(0, 1))
    return position + (index - leaf)


def leaf_index(runs: list[tuple[int, int]], position: int) -> int:
    leaf, first = max(((lf, p) for lf, p in runs if p <= position), default=(0, 1))
    return leaf + (position - first)


def records(store: EventStore, after: int, page: int = 10_000) -> Iterator[list[tuple[int, bytes, int, str, bytes]]]:
    """The stored events after position `after`, a page at a time, as the leaves are made of them."""
    start = after + 1
    while True:
        rows = store.read_records(start, page)
        if not rows:
            return
        yield rows
        start = rows[-1][0] + 1


# -- the log as a service: follow, sign, prove, verify -------------------------------------------

DEFAULT_ORIGIN = "ledger.example/log"
CHECKPOINT_EVERY = 5.0  # seconds: a new checkpoint at most this often while writes arrive


def log_algorithms(environ: dict[str, str] | None = None) -> str | None:
    """LEDGER_LOG_ALGORITHMS, for a log not made yet: ed25519-sha256 or sm2-sm3 (None: not set)."""
    text = (os.environ if environ is None else environ).get("LEDGER_LOG_ALGORITHMS", "").strip().lower()
    if text and text not in ALGORITHMS:
        raise InvalidInput(f"must be {' or '.join(ALGORITHMS)}, got {text!r}", "LEDGER_LOG_ALGORITHMS", "log_algorithms")
    return text or None


def log_settings(env: dict[str, str], environ: dict[str, str] | None = None) -> tuple[str, Path]:
    """(origin, key file): LEDGER_LOG_ORIGIN and LEDGER_LOG_KEY, else the key beside the SQLite
    file (ledger.db -> ledger.log-key), or in the working directory for PostgreSQL."""
    environ = dict(os.environ if environ is None else environ)
    origin = environ.get("LEDGER_LOG_ORIGIN") or DEFAULT_ORIGIN
    if environ.get("LEDGER_LOG_KEY"):
        return origin, Path(environ["LEDGER_LOG_KEY"])
    db = env.get("SQLITE_DBNAME", "")
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres" and db and ":memory:" not in db:
        return origin, Path(db).with_suffix(".log-key")
    return origin, Path("ledger.log-key")


class VerifiableLog:
    def __init__(self, store: EventStore, origin: str, key_file: Path, env: dict[str, str] | None = None,
                 algorithms: str | None = None):
        """`algorithms`: ed25519-sha256 (the default) or sm2-sm3 (国密), for a log not made yet."""
        self.store = store
        self.env = env  # how another process opens the same store (verify's workers)
        self.tables = TreeTables(store)
        self.algorithms = self.tables.algorithms(algorithms)
        self.tree = Tree(self.tables, merkle.tree_hash(ALGORITHMS[self.algorithms]))
        self.origin, self.key_file = origin, key_file
        self._signer: Signer | SM2Signer | None = None
        self._lock = threading.Lock()  # one appender per process; the tables' state guards across them

    @classmethod
    def of(cls, store: EventStore, env: dict[str, str]) -> VerifiableLog:
        origin, key_file = log_settings(env)
        return cls(store, origin, key_file, env, log_algorithms())

    @property
    def signer(self) -> Signer | SM2Signer:
        if self._signer is None:
            kind = SM2Signer if self.algorithms == "sm2-sm3" else Signer
            try:
                self._signer = kind.from_file(self.origin, self.key_file)
            except ValueError as e:  # a key file others may read, or of another algorithm or curve
                raise InvalidInput(str(e), "LEDGER_LOG_KEY", "log_key") from None
        return self._signer

    def catch_up(self, page: int = 10_000) -> int:
        """Append the events stored since the tree's last leaf; the number appended."""
        appended = 0
        with self._lock:
            size, position = self.tables.state()
            for batch in records(self.store, position, page):
                runs = []
                for i, row in enumerate(batch):
                    if row[0] != position + 1:
                        runs.append((size + i, row[0]))
                    position = row[0]
                hashes = leaf_hashes(batch, self.tree.hash)
                self.tables.save(self.tree.grown(size, hashes), runs, size + len(hashes), position)
                size += len(hashes)
                appended += len(hashes)
        return appended

    def size(self) -> int:
        return self.tables.state()[0]

    def checkpoint(self) -> Checkpoint:
        """A signed checkpoint of the tree as it is (kept; the same one again if nothing grew)."""
        size = self.size()
        kept = self.tables.checkpoint()
        if kept is not None and kept.size == size:
            return kept
        note = self.signer.sign(checkpoint_text(self.origin, size, self.tree.root(size)))
        self.tables.add_checkpoint(size, note, now().isoformat())
        return self.tables.checkpoint(size)  # type: ignore[return-value]

    def runs(self) -> list[tuple[int, int]]:
        return self.tables.run_list()

    def entries(self, start: int, end: int) -> list[bytes]:
        """Leaf bytes of leaves [start, end), read from the stored events."""
        runs = self.runs()
        first = leaf_position(runs, start)
        rows = self.store.read_records(first, end - start)
        found = []
        for i, (n, o, v, t, s) in enumerate(rows):
            if leaf_position(runs, start + i) != n:
                break
            found.append(leaf_bytes(n, o, v, t, s))
        return found


def follow(log: VerifiableLog, stop: threading.Event, every: float = CHECKPOINT_EVERY,
           witnesses: Sequence[Any] = ()) -> None:
    """serve's log thread: append what was written and sign a checkpoint, every few seconds; then
    ask the witnesses (projections/witnesses.py) that have not cosigned the latest one yet."""
    from projections.witnesses import push

    logger = logging.getLogger("ledger.log")
    while not stop.is_set():
        try:
            if log.catch_up():
                log.checkpoint()
            latest = log.tables.checkpoint() if witnesses else None
            if latest is not None:
                push(log, latest, list(witnesses))
        except Exception:  # noqa: BLE001 - the next round tries again; the API keeps answering
            logger.exception("the verifiable log could not catch up; retrying")
        stop.wait(every)


_reader: EventStore | None = None


def _open_reader(env: dict[str, str]) -> None:
    global _reader
    from domain.store import open_store

    _reader = open_store(env)


def _hash_range(span: tuple[int, int, str]) -> bytes:
    """In a worker: the leaf hashes of the events at positions start..stop, with the named hash."""
    assert _reader is not None
    start, stop, hash_name = span
    rows = [r for r in _reader.read_records(start, stop - start + 1) if r[0] <= stop]
    return b"".join(leaf_hashes(rows, merkle.tree_hash(hash_name)))


def _hashed(log: VerifiableLog, page: int, workers: int) -> Iterator[bytes]:
    """The leaf hashes of every stored event in order, a page at a time: hashed by `workers`
    processes side by side where the store can be opened again, else here."""
    head = log.store.recorder.max_notification_id() or 0
    if workers > 1 and head > page and log.env and ":memory:" not in log.env.get("SQLITE_DBNAME", ""):
        spans = [(start, min(start + page - 1, head), log.tree.hash.name) for start in range(1, head + 1, page)]
        context = multiprocessing.get_context("spawn")  # no copy of this process's pools and threads
        with context.Pool(workers, initializer=_open_reader, initargs=(log.env,)) as pool:
            yield from pool.imap(_hash_range, spans)
        return
    for batch in records(log.store, 0, page):
        yield b"".join(leaf_hashes(batch, log.tree.hash))


@dataclass
class Verdict:
    ok: bool
    checked: int  # leaves recomputed and compared
    checkpoints: int
    problem: str = ""
    position: int | None = None  # the first notification id whose leaf differs, where one does


def verify(log: VerifiableLog, page: int = 50_000, progress: Any = None, workers: int | None = None) -> Verdict:
    """Recompute every leaf from the stored events and every tile of the tree from the leaves,
    comparing each with the stored one as it goes; then check every kept checkpoint's signature and
    that its root is the tree's head at its size. The stored tree being the recomputed one by
    then, those heads are the recomputed log's, so the checkpoints are all consistent with it and
    with one another."""
    from projections.notes import NoteError, open_note, parse_checkpoint

    size, _ = log.tables.state()
    checkpoints = log.tables.all_checkpoints()
    vkey = log.signer.verifier_key()
    index = 0
    pending: list[bytearray] = [bytearray()]  # each level's recomputed hashes not yet a full tile
    done = [0]  # each level's tiles compared

    stored_level0: dict[int, bytes] = {}

    def stored(level: int, idx: int) -> bytes:
        if level:
            return log.tables.tile(level, idx)
        if idx not in stored_level0:  # the leaf tiles are read a thousand at a time
            stored_level0.clear()
            stored_level0.update(log.tables.tiles(0, idx, idx + 1024))
        return stored_level0.get(idx, b"")

    def tile_differs(level: int, hashes: bytes) -> Verdict | None:
        """Compare a recomputed tile with the stored one; on a difference, name the first leaf."""
        kept = stored(level, done[level])
        if kept == hashes:
            return None
        where = f"tile {level}/{done[level]}"
        if level > 0:
            return Verdict(False, index, 0, f"the stored tree differs from the log's leaves ({where})")
        for i in range(0, len(hashes), HASH):
            if kept[i:i + HASH] != hashes[i:i + HASH]:
                leaf = done[0] * TILE_WIDTH + i // HASH
                at = log.store.nth_position(leaf)
                return Verdict(False, leaf, 0, _differs(log, leaf, at, where), at)
        return Verdict(False, done[0] * TILE_WIDTH + len(hashes) // HASH, 0, missing())

    def full_tile(level: int, hashes: bytes) -> Verdict | None:
        if (bad := tile_differs(level, hashes)) is not None:
            return bad
        done[level] += 1
        if len(pending) == level + 1:
            pending.append(bytearray())
            done.append(0)
        pending[level + 1] += tile_root(hashes, log.tree.hash)
        if len(pending[level + 1]) == TILE_WIDTH * HASH:
            above = bytes(pending[level + 1])
            pending[level + 1] = bytearray()
            return full_tile(level + 1, above)
        return None

    def missing() -> str:
        return (f"the log holds {index} events but the tree {size} leaves: events from leaf {index} on are missing"
                " (truncated or deleted)")

    full = TILE_WIDTH * HASH
    for hashes in _hashed(log, page, workers or min(os.cpu_count() or 1, 4)):
        hashes = hashes[:(size - index) * HASH]
        chunk = bytes(pending[0]) + hashes if pending[0] else hashes
        at = 0
        while len(chunk) - at >= full:
            if (bad := full_tile(0, chunk[at:at + full])) is not None:
                return bad
            at += full
        pending[0] = bytearray(chunk[at:])
        index += len(hashes) // HASH
        if progress is not None:
            progress(index)
        if index >= size:
            break
    if pending[0] and (bad := tile_differs(0, bytes(pending[0]))) is not None:
        return bad
    if index < size:
        return Verdict(False, index, 0, missing())
    for level, hashes in enumerate(pending[1:], start=1):
        if hashes and (bad := tile_differs(level, bytes(hashes))) is not None:
            return bad
    for n, cp in enumerate(checkpoints):
        try:
            origin, cp_size, cp_root = parse_checkpoint(open_note(cp.note, vkey))
        except NoteError as e:
            return Verdict(False, index, n, f"the kept checkpoint of size {cp.size} fails: {e}")
        if cp_size != cp.size or origin != log.origin or cp_size > size:
            return Verdict(False, index, n, f"the kept checkpoint of size {cp.size} names size {cp_size} of {origin}")
        if log.tree.root(cp_size) != cp_root:
            return Verdict(False, index, n, f"the log no longer matches the signed checkpoint of size {cp_size}: an"
                                            f" entry among the first {cp_size} was changed, removed or reordered")
    return Verdict(True, index, len(checkpoints))


def _differs(log: VerifiableLog, leaf: int, position: int | None, where: str) -> str:
    expected = leaf_position(log.runs(), leaf)
    if position is not None and position != expected:
        return (f"leaf {leaf} was the event at position {expected}, but the log now has position {position} there:"
                f" an event was removed or the order changed ({where})")
    return f"the event at position {position} (leaf {leaf}) is not what the tree recorded: it was changed ({where})"
