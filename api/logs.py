"""Identity numbers never reach a log line: anything that looks like one is masked (first 6, last 4).

Masking happens where a log record is made, for every logger of the process (the access log, the
projection's, a library's) and for the traceback it carries, so no handler or formatter configured
later can print the raw text. "Looks like one" is read generously, since a request path is not a
well-formed identity number: any run of 14 or more digits (an X may end it), whatever stands
around it, after undoing URL escapes (%20, %0A) and full-width digits.
"""

from __future__ import annotations

import copy
import logging
import re
import traceback
import unicodedata
from typing import Any
from urllib.parse import unquote

_RUN = re.compile(r"\d{14,}[Xx]?")


def _mask_run(m: re.Match[str]) -> str:
    run = m.group(0)
    return run[:6] + "*" * (len(run) - 10) + run[-4:]


def mask_ids(text: str) -> str:
    masked = _RUN.sub(_mask_run, text)
    if "%" in text or not text.isascii():
        # The same number escaped (%31%31...) or typed in full-width digits: mask the readable form.
        readable = unicodedata.normalize("NFKC", unquote(text))
        if _RUN.search(readable):
            return _RUN.sub(_mask_run, readable)
    return masked


def _masked_arg(value: object) -> object:
    if isinstance(value, str):
        return mask_ids(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        text = str(value)
        return mask_ids(text) if _RUN.search(text) else value
    if value is None or isinstance(value, bool):
        return value
    text = str(value)
    masked = mask_ids(text)
    return masked if masked != text else value


def _mask_record(record: logging.LogRecord) -> logging.LogRecord:
    if isinstance(record.msg, str):
        record.msg = mask_ids(record.msg)
    elif record.msg is not None:
        record.msg = mask_ids(str(record.msg))
    if isinstance(record.args, tuple):
        record.args = tuple(_masked_arg(a) for a in record.args)
    elif isinstance(record.args, dict):
        record.args = {k: _masked_arg(v) for k, v in record.args.items()}
    if record.exc_info and record.exc_info[0] is not None and not record.exc_text:
        # Formatters print exc_text when it is set: the traceback is formatted once, masked.
        record.exc_text = mask_ids("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
    if record.stack_info:
        record.stack_info = mask_ids(record.stack_info)
    return record


_installed = False


def install() -> None:
    """Mask every record made from now on, in every logger of the process (idempotent)."""
    global _installed
    if _installed:
        return
    make = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return _mask_record(make(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True


def uvicorn_config(log_format: str) -> dict[str, Any]:
    """uvicorn's own logging settings, with every formatter JSON when asked (python-json-logger),
    and the ledger's loggers through the same handler, so a collector reads one format."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    if log_format != "json":
        return config
    for name in config["formatters"]:
        config["formatters"][name] = {"()": "pythonjsonlogger.json.JsonFormatter",
                                      "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
                                      "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"}}
    config["loggers"]["ledger"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return config
