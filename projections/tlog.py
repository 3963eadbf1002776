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

import os
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.sql import SQL, Identifier

from domain.dates import now
from domain.store import EventStore
from projections import merkle
from projections.notes import Signer, checkpoint_text

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH = 32
_U64 = struct.Struct(">Q")
_U16 = struct.Struct(">H")


def leaf_bytes(position: int, originator_id: bytes, version: int, topic: str, state: bytes) -> bytes:
    t = topic.encode()
    return b"".join((_U64.pack(position), originator_id, _U64.pack(version), _U16.pack(len(t)), t, state))


def tile_root(hashes: bytes) -> bytes:
    """The hash of the complete subtree a full tile's 256 hashes make."""
    level = [hashes[i:i + HASH] for i in range(0, len(hashes), HASH)]
    while len(level) > 1:
        level = [merkle.node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


@dataclass
class Checkpoint:
    size: int
    note: str
    made_at: str


class TreeTables:
    """The tree's tables, in the ledger's database (the same SQLite file, or the same schema)."""

    def __init__(self, store: EventStore):
        self.recorder = store.recorder
        self.datastore = self.recorder.datastore
        self.postgres = store.recorder.__class__.__module__.endswith("postgres")
        if self.postgres:
            prefix = Identifier(self.datastore.schema).as_string() + "."
            self.p = "%s"
        else:
            prefix, self.p = "", "?"
        self.tiles, self.runs = prefix + "tlog_tiles", prefix + "tlog_runs"
        self.state_table, self.checkpoints = prefix + "tlog_state", prefix + "tlog_checkpoints"
        blob = "bytea" if self.postgres else "BLOB"
        big = "bigint" if self.postgres else "INTEGER"
        with self.datastore.transaction(commit=True) as c:
            for statement in (
                f"CREATE TABLE IF NOT EXISTS {self.tiles} (level {big} NOT NULL, idx {big} NOT NULL,"
                f" hashes {blob} NOT NULL, PRIMARY KEY (level, idx))",
                f"CREATE TABLE IF NOT EXISTS {self.runs} (leaf {big} PRIMARY KEY, position {big} NOT NULL)",
                f"CREATE TABLE IF NOT EXISTS {self.state_table} (one {big} PRIMARY KEY, size {big} NOT NULL,"
                f" position {big} NOT NULL)",
                f"CREATE TABLE IF NOT EXISTS {self.checkpoints} (size {big} PRIMARY KEY, note TEXT NOT NULL,"
                " made_at TEXT NOT NULL)",
            ):
                c.execute(SQL(statement) if self.postgres else statement)  # type: ignore[arg-type]

    def _sql(self, statement: str) -> Any:
        return SQL(statement) if self.postgres else statement  # type: ignore[arg-type]

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(statement.replace("?", self.p)), params)
            rows = c.fetchall()
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]

    def state(self) -> tuple[int, int]:
        """(leaves in the tree, the last leaf's position)."""
        rows = self.query(f"SELECT size, position FROM {self.state_table} WHERE one = 1")
        return (int(rows[0][0]), int(rows[0][1])) if rows else (0, 0)

    def tile(self, level: int, idx: int) -> bytes:
        rows = self.query(f"SELECT hashes FROM {self.tiles} WHERE level = ? AND idx = ?", (level, idx))
        return bytes(rows[0][0]) if rows else b""

    def run_list(self) -> list[tuple[int, int]]:
        return [(int(a), int(b)) for a, b in self.query(f"SELECT leaf, position FROM {self.runs} ORDER BY leaf")]

    def save(self, tiles: dict[tuple[int, int], bytes], runs: list[tuple[int, int]], size: int, position: int) -> None:
        """The new and grown tiles, the new runs and the new size, in one transaction."""
        p = self.p
        upsert = (f"INSERT INTO {self.tiles} (level, idx, hashes) VALUES ({p}, {p}, {p})"
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

    def all_checkpoints(self) -> list[Checkpoint]:
        return [Checkpoint(int(s), n, m) for s, n, m in
                self.query(f"SELECT size, note, made_at FROM {self.checkpoints} ORDER BY size")]


class Tree:
    """The tree read from its tiles, and grown by appending leaf hashes. Complete tiles never
    change, so they are cached; the partial ones are read each time from the database."""

    def __init__(self, tables: TreeTables, cache_tiles: int = 4096):
        self.tables = tables
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
        nodes = [part[i:i + HASH] for i in range(0, len(part), HASH)]
        while len(nodes) > 1:
            nodes = [merkle.node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
        return nodes[0]

    def root(self, size: int) -> bytes:
        return merkle.root(self.subtree, size)

    def inclusion(self, index: int, size: int) -> list[bytes]:
        return merkle.inclusion_proof(self.subtree, index, size)

    def consistency(self, old: int, new: int) -> list[bytes]:
        return merkle.consistency_proof(self.subtree, old, new)

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
                    completed.append(tile_root(tile))
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


def leaves(store: EventStore, after: int, page: int = 10_000) -> Iterator[list[tuple[int, bytes]]]:
    """(position, leaf bytes) of every stored event after position `after`, a page at a time."""
    start = after + 1
    while True:
        rows = store.read_records(start, page)
        if not rows:
            return
        yield [(n, leaf_bytes(n, o, v, t, s)) for n, o, v, t, s in rows]
        start = rows[-1][0] + 1


# -- the log as a service: follow, sign, prove, verify -------------------------------------------

DEFAULT_ORIGIN = "ledger.example/log"
CHECKPOINT_EVERY = 5.0  # seconds: a new checkpoint at most this often while writes arrive


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
    def __init__(self, store: EventStore, origin: str, key_file: Path):
        self.store = store
        self.tables = TreeTables(store)
        self.tree = Tree(self.tables)
        self.origin, self.key_file = origin, key_file
        self._signer: Signer | None = None
        self._lock = threading.Lock()  # one appender per process; the tables' state guards across them

    @classmethod
    def of(cls, store: EventStore, env: dict[str, str]) -> VerifiableLog:
        origin, key_file = log_settings(env)
        return cls(store, origin, key_file)

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            self._signer = Signer.from_file(self.origin, self.key_file)
        return self._signer

    def catch_up(self, page: int = 10_000, limit: int | None = None) -> int:
        """Append the events stored since the tree's last leaf; the number appended."""
        appended = 0
        with self._lock:
            size, position = self.tables.state()
            for batch in leaves(self.store, position, page):
                runs = []
                hashes = []
                for n, leaf in batch:
                    if n != position + 1:
                        runs.append((size + len(hashes), n))
                    hashes.append(merkle.leaf_hash(leaf))
                    position = n
                self.tables.save(self.tree.grown(size, hashes), runs, size + len(hashes), position)
                size += len(hashes)
                appended += len(hashes)
                if limit is not None and appended >= limit:
                    break
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


def follow(log: VerifiableLog, stop: threading.Event, every: float = CHECKPOINT_EVERY) -> None:
    """serve's log thread: append what was written and sign a checkpoint, every few seconds."""
    import logging

    logger = logging.getLogger("ledger.log")
    while not stop.is_set():
        try:
            if log.catch_up():
                log.checkpoint()
        except Exception:  # noqa: BLE001 - the next round tries again; the API keeps answering
            logger.exception("the verifiable log could not catch up; retrying")
        stop.wait(every)


@dataclass
class Verdict:
    ok: bool
    checked: int  # leaves recomputed and compared
    checkpoints: int
    problem: str = ""
    position: int | None = None  # the first notification id whose leaf differs, where one does


def _fold(stack: list[tuple[int, bytes]]) -> bytes:
    """The tree head from the complete subtrees of a compact range, left to right."""
    if not stack:
        return merkle.EMPTY_ROOT
    head = stack[-1][1]
    for _, h in reversed(stack[:-1]):
        head = merkle.node_hash(h, head)
    return head


def verify(log: VerifiableLog, page: int = 20_000, progress: Any = None) -> Verdict:
    """Recompute every leaf from the stored events and the tree from the leaves; compare both with
    the stored tiles; check every kept checkpoint's signature and that its root is the recomputed
    tree's head at its size (which makes them all consistent with one another)."""
    from projections.notes import NoteError, open_note, parse_checkpoint

    size, _ = log.tables.state()
    checkpoints = log.tables.all_checkpoints()
    vkey = log.signer.verifier_key()
    roots: dict[int, bytes] = {}
    for cp in checkpoints:
        try:
            origin, cp_size, cp_root = parse_checkpoint(open_note(cp.note, vkey))
        except NoteError as e:
            return Verdict(False, 0, 0, f"the kept checkpoint of size {cp.size} fails: {e}")
        if cp_size != cp.size or origin != log.origin:
            return Verdict(False, 0, 0, f"the kept checkpoint of size {cp.size} names size {cp_size} of {origin}")
        if cp_size > size:
            return Verdict(False, 0, 0, f"the kept checkpoint of size {cp_size} is beyond the tree's {size} leaves")
        roots[cp_size] = cp_root
    wanted = sorted(roots)
    stack: list[tuple[int, bytes]] = []  # the compact range of the leaves so far
    pending: list[bytearray] = [bytearray()]  # each level's hashes not yet a full tile
    tiles_done = [0]
    index = 0
    positions: list[int] = []

    def compare_tile(level: int, hashes: bytes) -> str | None:
        idx = tiles_done[level]
        if log.tables.tile(level, idx) != hashes:
            return f"tile {level}/{idx}"
        return None

    def push_tile(level: int) -> str | None:
        """A full tile at `level`: compare it, then its root goes up a level."""
        full = bytes(pending[level])
        if (bad := compare_tile(level, full)) is not None:
            return bad
        tiles_done[level] += 1
        pending[level] = bytearray()
        if len(pending) == level + 1:
            pending.append(bytearray())
            tiles_done.append(0)
        pending[level + 1] += tile_root(full)
        if len(pending[level + 1]) == TILE_WIDTH * HASH:
            return push_tile(level + 1)
        return None

    def first_difference(level: int) -> int:
        """The first leaf under the differing tile whose stored hash is not the recomputed one."""
        stored = log.tables.tile(0, tiles_done[0]) if level == 0 else b""
        base = tiles_done[0] * TILE_WIDTH
        mine = bytes(pending[0])
        for i in range(0, len(mine), HASH):
            if stored[i:i + HASH] != mine[i:i + HASH]:
                return base + i // HASH
        return base

    stored_leaves = b""
    for batch in leaves(log.store, 0, page):
        for n, leaf in batch:
            if index >= size:
                break
            h = merkle.leaf_hash(leaf)
            offset = (index % TILE_WIDTH) * HASH
            if offset == 0:
                stored_leaves = log.tables.tile(0, index // TILE_WIDTH)
            if stored_leaves[offset:offset + HASH] != h:
                return Verdict(False, index, len(checkpoints) - len(wanted),
                               _differs(log, index, n, f"tile 0/{index // TILE_WIDTH}"), n)
            positions.append(n)
            pending[0] += h
            index += 1
            height, node = 0, h
            while stack and stack[-1][0] == height:
                node = merkle.node_hash(stack.pop()[1], node)
                height += 1
            stack.append((height, node))
            if wanted and index == wanted[0]:
                if _fold(stack) != roots[index]:
                    return Verdict(False, index, len(checkpoints) - len(wanted),
                                   f"the log no longer matches the signed checkpoint of size {index}: an entry among"
                                   f" the first {index} (positions up to {n}) was changed, removed or reordered")
                wanted.pop(0)
            if len(pending[0]) == TILE_WIDTH * HASH:
                if (bad := push_tile(0)) is not None:
                    leaf_i = first_difference(0) if bad.startswith("tile 0/") else index - TILE_WIDTH
                    at = positions[leaf_i - (index - len(positions))] if bad.startswith("tile 0/") else n
                    return Verdict(False, index, len(checkpoints) - len(wanted),
                                   _differs(log, leaf_i, at, bad), at)
                positions.clear()
        if progress is not None:
            progress(index)
        if index >= size:
            break
    if index < size:
        return Verdict(False, index, len(checkpoints) - len(wanted),
                       f"the log holds {index} events but the tree {size} leaves: events from leaf {index} on are"
                       " missing (truncated or deleted)", None)
    for level, hashes in enumerate(pending):
        if hashes and (bad := compare_tile(level, bytes(hashes))) is not None:
            leaf_i = first_difference(level) if level == 0 else tiles_done[0] * TILE_WIDTH
            at = positions[leaf_i - (index - len(positions))] if level == 0 and positions else None
            return Verdict(False, index, len(checkpoints), _differs(log, leaf_i, at, bad), at)
    if wanted:
        return Verdict(False, index, len(checkpoints) - len(wanted),
                       f"the kept checkpoint of size {wanted[0]} could not be reached")
    return Verdict(True, index, len(checkpoints))


def _differs(log: VerifiableLog, leaf: int, position: int | None, where: str) -> str:
    expected = leaf_position(log.runs(), leaf)
    if position is not None and position != expected:
        return (f"leaf {leaf} was the event at position {expected}, but the log now has position {position} there:"
                f" an event was removed or the order changed ({where})")
    return f"the event at position {position} (leaf {leaf}) is not what the tree recorded: it was changed ({where})"
