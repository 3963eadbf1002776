"""Request bodies over 1 MiB get 413 without being read whole, and a JSON body that names a key
twice gets 400 (pure ASGI, before FastAPI). Uploaded files are counted as they are spooled to disk."""

from __future__ import annotations

import json
import tempfile
from typing import IO

from starlette.requests import Request

from domain.errors import InvalidInput, LedgerError

MAX_BODY = 1024 * 1024
# Paths that take files: not buffered here, only refused early when they say they are too large.
# The endpoint counts what it spools to disk.
FILE_PATHS = {"/v1/imports/collections": 256 * 1024 * 1024, "/console/imports": 256 * 1024 * 1024}


def _problem(detail: str) -> bytes:
    return json.dumps({"type": "https://ledger.example/problems/413", "title": "Request body too large",
                       "status": 413, "detail": detail, "errors": []}).encode()


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def duplicate_key(body: bytes) -> str | None:
    """The first key a JSON object in the body names twice. Parsers disagree on which of the two
    wins, so a payment read one way by a proxy and another way here must not be possible."""
    try:
        json.loads(body, object_pairs_hook=_no_duplicates)
    except _Duplicate as e:
        return str(e)
    except ValueError:
        return None  # not JSON at all: FastAPI answers that itself
    return None


class BodyLimit:
    def __init__(self, app, limit: int = MAX_BODY):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        limit = FILE_PATHS.get(scope.get("path", ""), self.limit)
        if length is not None and length.isdigit() and int(length) > limit:
            return await self._reject(send, limit)
        if scope.get("path") in FILE_PATHS:
            return await self.app(scope, receive, send)
        # Read at most the limit (buffered), then hand the app the body as one message.
        chunks, seen, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.limit:
                return await self._reject(send, self.limit)
            more = message.get("more_body", False)
        body, replayed = b"".join(chunks), False
        if body and b"json" in headers.get(b"content-type", b"") and (key := duplicate_key(body)) is not None:
            return await self._send(send, 400, json.dumps({
                "type": "https://ledger.example/problems/duplicate_key", "title": "Malformed request", "status": 400,
                "detail": f"{key}: is given twice in the JSON body; send it once",
                "errors": [{"field": key, "message": "is given twice in the JSON body; send it once"}],
            }, ensure_ascii=False).encode())

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send, limit: int):
        await self._send(send, 413, _problem(f"the request body is larger than {limit // (1024 * 1024)} MiB"))

    @staticmethod
    async def _send(send, status: int, body: bytes):
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})


class TooLarge(LedgerError):
    kind = "too_large"


async def spool_upload(request: Request, limit: int) -> IO[bytes]:
    """The file, from a multipart field `file` or the raw body, spooled to disk past 8 MiB."""
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    seen = 0

    def keep(chunk: bytes) -> None:
        nonlocal seen
        seen += len(chunk)
        if seen > limit:
            raise TooLarge(f"the file is larger than {limit // (1024 * 1024)} MiB", "file", "too_large")
        spool.write(chunk)

    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form(max_files=1)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise InvalidInput("send the file (CSV or XLSX) in the multipart field 'file'", "file", "required")
        while chunk := await upload.read(1024 * 1024):
            keep(chunk)
    else:
        async for chunk in request.stream():
            keep(chunk)
    spool.seek(0)
    return spool  # type: ignore[return-value]
