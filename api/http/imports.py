"""Imports: the tax bureau's daily collection file."""

from __future__ import annotations

import json
import tempfile

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api import problems
from api.http.deps import BUREAU, TheLedger, Who, allow
from api.limits import FILE_PATHS, spool_upload
from api.schemas import ImportReport
from api.services.collection_import import RowResult, import_file
from api.state import metrics_of

router = APIRouter()
responses = problems.PROBLEM_RESPONSES


@router.post("/v1/imports/collections", tags=["writes"], response_model=ImportReport,
             responses={s: responses[s] for s in (403, 413)})
async def import_collections(request: Request, who: Who, ledger: TheLedger) -> StreamingResponse:
    """The tax bureau's daily collection file (bureau): CSV in UTF-8 or GB18030, or XLSX/XLS, as the
    request body or as the multipart field `file`. Every row gets one outcome (a person outside the
    token's regions: `out_of_scope`, nothing written); the answer lists them all."""
    allow(who, BUREAU, "import collection files")
    upload = await spool_upload(request, FILE_PATHS["/v1/imports/collections"])
    out = tempfile.TemporaryFile()

    def emit(result: RowResult) -> None:  # one JSON line per row, spooled to disk: files run to millions
        out.write(json.dumps(result.public(), ensure_ascii=False).encode() + b"\n")

    try:
        summary = await run_in_threadpool(import_file, ledger, who, upload, emit)
    finally:
        upload.close()
    metrics_of(request).counted(summary.counts_dict())
    out.seek(0)

    def body():
        yield b'{"rows": ['
        first = True
        for line in out:
            yield (b"" if first else b",") + line.rstrip(b"\n")
            first = False
        yield b'], "counts": ' + json.dumps(summary.counts_dict()).encode()
        yield b', "totals": ' + json.dumps(summary.totals(), ensure_ascii=False).encode() + b"}"
        out.close()

    return StreamingResponse(body(), media_type="application/json")
