"""`ledger` as a process of its own, as an operator runs it: a command, or `ledger serve` on a free
port, against a SQLite file in the test's folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ledger_env(folder: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any ledger setting, and the ledger in `folder`."""
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "POSTGRES_", "SQLITE_"))}
    return {**keep, "LEDGER_DB": str(folder / "ledger.db"), **extra}


def ledger(folder: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=120)


def token(folder: Path, env: dict[str, str], role: str, name: str) -> str:
    made = ledger(folder, env, "token", "create", "--role", role, "--name", name)
    return made.stdout.strip().splitlines()[-1]


@contextmanager
def serving(folder: Path, env: dict[str, str], *args: str, output: IO | int = subprocess.DEVNULL) -> Iterator[str]:
    """`ledger serve` until the block ends; the block gets its address once it answers."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), *args], cwd=folder,
                              env=env, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(timeout=20)
