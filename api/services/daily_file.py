"""Reading the tax bureau's daily collection file: CSV (UTF-8 or GB18030) or a spreadsheet (XLSX,
XLS, ODS), into rows of cells with their line numbers.

Reading never posts and never stops a file half-way: a file that cannot be read as a whole (not
text in either encoding, no header, an unreadable workbook) is refused before its first row is
posted; a row that cannot be read (an over-long field, say) is handed on with its problem, and the
rows after it are read as usual.

The encoding is decided, not guessed: the files are UTF-8 or GB18030 by contract, so a file is
UTF-8 (with or without a BOM) if the whole of it decodes as UTF-8, else GB18030 if the whole of
it decodes so, else refused naming the line of the first byte that neither can read. A guesser
called a valid UTF-8 file of a few names "cp1250" and refused it.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from domain.errors import LedgerError

HEADERS = {
    "缴费流水号": "transaction_id", "证件号码": "id_number", "姓名": "name", "缴费年度": "year", "档次": "tier",
    "缴费金额": "amount", "缴费时间": "paid_at", "缴费渠道": "channel", "征收点": "collection_point", "票据号": "receipt_no",
}
REQUIRED = ("transaction_id", "id_number", "name", "year", "tier", "amount", "paid_at", "channel", "collection_point")
# The longest cell read from a CSV file, in characters: no field of the file comes near it.
FIELD_LIMIT = 4096
# A spreadsheet export may put a title or a date line above its header: this many are passed over.
TITLE_ROWS = 5
_CHUNK = 1024 * 1024
_ZIP = b"PK\x03\x04"  # XLSX and ODS are zip archives
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # XLS (BIFF) is an OLE compound file

csv.field_size_limit(FIELD_LIMIT)


class FileProblem(LedgerError):
    """The file as a whole cannot be read (encoding, header, workbook): nothing was posted."""

    kind = "invalid"


@dataclass(frozen=True)
class Layout:
    """A kind of file: its header names (Chinese or English) and the fields it cannot do without."""

    headers: dict[str, str]
    required: tuple[str, ...]
    example: str  # one header as the file's README names it, for the message that says one is missing


DAILY = Layout(HEADERS, REQUIRED, "缴费流水号 transaction_id")


@dataclass
class SourceRow:
    line: int  # the file's line (CSV) or the sheet's row number (spreadsheets), 1 for the header
    cells: dict[str, Any]  # field -> text (CSV) or the cell's value (str, int, float, date, datetime)
    problem: str | None = None  # why the row could not be read, when it could not
    typed: bool = True  # cells may be numbers or dates; False: all trimmed text (a CSV line)


# -- the encoding of a CSV file ----------------------------------------------------------------


def _first_bad_byte(stream: IO[bytes], encoding: str) -> tuple[int, int] | None:
    """(line, byte) of the first byte that `encoding` cannot read, or None if all of it decodes."""
    stream.seek(0)
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line = 1
    while True:
        chunk = stream.read(_CHUNK)
        try:
            decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as e:
            # e.object is what the decoder held from the last chunk (part of one character, never
            # a line break) and this chunk; e.start, the first byte it could not read.
            bad = e.object[e.start] if e.start < len(e.object) else 0
            return line + e.object[: e.start].count(b"\n"), bad
        if not chunk:
            return None
        line += chunk.count(b"\n")


def decide_encoding(stream: IO[bytes]) -> str:
    """"utf-8-sig" or "gb18030" for the whole file, or FileProblem naming where it breaks."""
    utf8 = _first_bad_byte(stream, "utf-8")
    if utf8 is None:
        return "utf-8-sig"  # reads a BOM if there is one
    gb = _first_bad_byte(stream, "gb18030")
    if gb is None:
        return "gb18030"
    raise FileProblem(
        f"the file is neither UTF-8 (line {utf8[0]} has byte 0x{utf8[1]:02X} that UTF-8 cannot read) nor GB18030 "
        f"(line {gb[0]} has byte 0x{gb[1]:02X}); save it as UTF-8 or GB18030 and send it again",
        "file",
        "encoding",
    )


# -- the header --------------------------------------------------------------------------------


def columns_of(header: list[Any], layout: Layout = DAILY) -> list[str]:
    """Each column's field (Chinese or English header names), or FileProblem naming what is missing."""
    columns = []
    for h in header:
        name = str(h).strip().lstrip("\ufeff") if h is not None else ""
        columns.append(layout.headers.get(name, name))
    missing = [f for f in layout.required if f not in columns]
    if missing:
        raise FileProblem(
            "the header lacks " + ", ".join(missing)
            + f" (Chinese or English names, see README: {layout.example}, ...)",
            "file",
            "header",
        )
    return columns


def _cells(columns: list[str], values: list[Any]) -> dict[str, Any]:
    return {c: (values[i] if i < len(values) else "") for i, c in enumerate(columns) if c}


def _blank(values: list[Any]) -> bool:
    return not any(str(v).strip() for v in values if v is not None)


# -- CSV ---------------------------------------------------------------------------------------


def _csv_rows(stream: IO[bytes], layout: Layout) -> Iterator[SourceRow]:
    encoding = decide_encoding(stream)
    stream.seek(0)
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise FileProblem("the file is empty: no header line", "file", "header") from None
    except csv.Error as e:
        raise FileProblem(f"the header line cannot be read: {e}", "file", "header") from None
    columns = columns_of(header, layout)
    return _csv_body(reader, columns)


def _csv_body(reader: Any, columns: list[str]) -> Iterator[SourceRow]:
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            yield SourceRow(reader.line_num, {}, f"this line cannot be read as CSV: {e}")
            continue
        if "".join(values).strip():  # a line of nothing but separators and spaces is no row
            cells = {c: (values[i].strip() if i < len(values) else "") for i, c in enumerate(columns) if c}
            yield SourceRow(reader.line_num, cells, None, False)


# -- spreadsheets ------------------------------------------------------------------------------


def _is_xlsx(stream: IO[bytes]) -> bool:
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _sheet_rows(stream: IO[bytes], layout: Layout) -> Iterator[SourceRow]:
    """The first sheet's rows. XLSX is read by openpyxl in read-only mode, row by row, so memory
    stays flat (calamine holds a whole sheet: 242 MB for 200,000 rows, against 42 MB); it does
    not report merged cells there, so a merged cell's other rows read as empty. XLS (at most
    65,536 rows a sheet) and ODS are read by calamine, which names merged cells."""
    merged: list[tuple] = []
    try:
        if _is_xlsx(stream):
            import openpyxl

            stream.seek(0)
            book = openpyxl.load_workbook(stream, read_only=True, data_only=True)
            if not book.worksheets:
                raise FileProblem("the workbook has no sheet", "file", "header")
            rows = book.worksheets[0].iter_rows(min_row=1, values_only=True)
        else:
            from python_calamine import CalamineWorkbook

            stream.seek(0)
            workbook = CalamineWorkbook.from_filelike(stream)
            if not workbook.sheet_names:
                raise FileProblem("the workbook has no sheet", "file", "header")
            sheet = workbook.get_sheet_by_index(0)
            merged = [tuple(r) for r in (sheet.merged_cell_ranges or [])]
            rows = sheet.iter_rows()  # from the sheet's first row, whatever its first used cell
    except FileProblem:
        raise
    except Exception as e:  # noqa: BLE001 - each reader raises errors of its own types
        raise FileProblem(f"the workbook cannot be read: {e}", "file", "workbook") from None
    last = [0]

    def numbered() -> Iterator[Any]:
        for values in rows:
            last[0] += 1
            yield values

    try:
        yield from _sheet_body(numbered(), merged, layout)
    except FileProblem:
        raise
    except Exception as e:  # noqa: BLE001 - damaged past its first rows: what came before stands
        yield SourceRow(last[0] + 1, {}, f"the workbook cannot be read from this row on, nothing after it was read: {e}")


def _sheet_body(rows: Iterator[Any], merged: list[tuple], layout: Layout) -> Iterator[SourceRow]:
    header = None
    above: list[list[Any]] = []  # rows before the header: an export's title lines
    for line, values in enumerate(rows, start=1):
        if _blank(values):
            continue
        if header is None:
            if len(above) < TITLE_ROWS and not _has_required(values, layout):
                above.append(values)
                continue
            header = columns_of(values, layout)
            continue
        yield SourceRow(line, _cells(header, values), _merged_problem(merged, line - 1, header))
    if header is None:
        if above:
            columns_of(above[0], layout)  # refused, naming what the header lacks
        raise FileProblem("the first sheet is empty: no header row", "file", "header")


def _has_required(values: list[Any], layout: Layout) -> bool:
    names = {layout.headers.get(str(v).strip(), str(v).strip()) for v in values if v is not None}
    return all(f in names for f in layout.required)


def _merged_problem(merged: list[tuple], row: int, columns: list[str]) -> str | None:
    """A merged cell holds its value in its first row only: the other rows would read it as empty."""
    for (r0, c0), (r1, c1) in merged:
        if r0 <= row <= r1 and (r0 != r1 or c0 != c1):
            names = [columns[c] for c in range(c0, min(c1, len(columns) - 1) + 1) if columns[c]]
            return f"this row has a merged cell ({', '.join(names) or 'a column'}); unmerge the cells and fill each row"
    return None


# -- either ------------------------------------------------------------------------------------


def read_rows(stream: IO[bytes], layout: Layout = DAILY) -> Iterator[SourceRow]:
    """The file's rows after its header. Refuses the whole file (FileProblem) before the first row
    if it cannot be read; the stream is copied to a temporary file if it cannot seek."""
    if not stream.seekable():
        copy = tempfile.TemporaryFile()
        shutil.copyfileobj(stream, copy)
        stream = copy
    stream.seek(0)
    magic = stream.read(8)
    if magic.startswith(_ZIP) or magic == _OLE:
        return _sheet_rows(stream, layout)
    return _csv_rows(stream, layout)
