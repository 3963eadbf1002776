"""Reports as CSV (UTF-8 with BOM, so spreadsheet programs show the Chinese names) and XLSX."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import xlsxwriter

_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


# A cell starting with one of these is a formula to a spreadsheet program (OWASP "CSV injection"):
# a name like =HYPERLINK("http://x","y") would become a live link in the bureau's copy. The
# full-width forms too, which some spreadsheet programs read as their ASCII twins.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")


def is_formula_like(value: object) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def spreadsheet_text(value: object) -> object:
    """A CSV cell that no spreadsheet program will run: formula-like text gets a leading
    apostrophe, which the programs show as the text itself."""
    return "'" + value if is_formula_like(value) else value


def write_csv_row(writer: Any, row: list[Any]) -> None:
    writer.writerow([spreadsheet_text(v) for v in row])


def _table(report: dict[str, Any], columns: list[str]) -> list[list[Any]]:
    rows = [[row.get(c) for c in columns] for row in report["rows"]]
    if "total" in report:
        rows.append([report["total"].get(c) for c in columns])
    return rows


def to_csv(report: dict[str, Any], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in _table(report, columns):
        write_csv_row(writer, row)
    for warning in report.get("warnings", []):
        write_csv_row(writer, ["warning", warning])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: dict[str, Any], columns: list[str], title: str) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    quoted = book.add_format({"quote_prefix": True})
    sheet.write_row(0, 0, columns, bold)

    def text(target: Any, r: int, c: int, value: str) -> None:
        # Text is written as text, never through write(), which turns "=..." into a formula;
        # formula-like text is also marked quote-prefixed, so editing the cell keeps it text.
        target.write_string(r, c, value, quoted if is_formula_like(value) else None)

    for r, row in enumerate(_table(report, columns), start=1):
        for c, value in enumerate(row):
            # Rates are decimal strings in JSON; in a sheet they are numbers, to be formatted as %.
            if isinstance(value, str) and columns[c].startswith("rate") and _DECIMAL.fullmatch(value):
                sheet.write_number(r, c, float(value))
            elif isinstance(value, str):
                text(sheet, r, c, value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                sheet.write_number(r, c, value)
            elif value is None:
                sheet.write_blank(r, c, None)
            else:
                text(sheet, r, c, str(value))
    if report.get("warnings"):
        notes = book.add_worksheet("warnings")
        for r, warning in enumerate(report["warnings"]):
            text(notes, r, 0, warning)
    book.close()
    return buffer.getvalue()


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def download(report: dict[str, Any], fmt: str, columns: list[str], name: str) -> tuple[bytes, str, str]:
    """(body, media type, file name) of a report as a CSV or XLSX file."""
    if fmt == "csv":
        return to_csv(report, columns), "text/csv; charset=utf-8", f"{name}.csv"
    return to_xlsx(report, columns, name), XLSX, f"{name}.xlsx"
