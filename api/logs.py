"""Identity numbers never reach a log: anything shaped like one is masked (first 6, last 4)."""

from __future__ import annotations

import logging
import re

_ID = re.compile(r"(?<![0-9A-Za-z])(\d{6})\d{8}(\d{3}[\dXx])(?![0-9A-Za-z])")


def mask_ids(text: str) -> str:
    return _ID.sub(lambda m: m.group(1) + "********" + m.group(0)[-4:], text)


class MaskIdentityNumbers(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(mask_ids(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = mask_ids(record.msg)
        return True


def install() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "ledger"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, MaskIdentityNumbers) for f in logger.filters):
            logger.addFilter(MaskIdentityNumbers())
