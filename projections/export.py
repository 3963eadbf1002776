"""Reports as CSV (UTF-8 with BOM, so spreadsheet programs show the Chinese names) and XLSX."""

from __future__ import annotations

import csv
import io
from typing import Any

import xlsxwriter


def _table(report: dict[str, Any], columns: list[str]) -> list[list[Any]]:
    rows = [[row.get(c) for c in columns] for row in report["rows"]]
    if "total" in report:
        rows.append([report["total"].get(c) for c in columns])
    return rows


def to_csv(report: dict[str, Any], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    writer.writerows(_table(report, columns))
    for warning in report.get("warnings", []):
        writer.writerow(["warning", warning])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(report: dict[str, Any], columns: list[str], title: str) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet(title[:31])
    bold = book.add_format({"bold": True})
    sheet.write_row(0, 0, columns, bold)
    for r, row in enumerate(_table(report, columns), start=1):
        for c, value in enumerate(row):
            # Rates are decimal strings in JSON; in a sheet they are numbers, to be formatted as %.
            if isinstance(value, str) and value.replace(".", "", 1).isdigit() and columns[c].startswith("rate"):
                sheet.write_number(r, c, float(value))
            else:
                sheet.write(r, c, value)
    if report.get("warnings"):
        notes = book.add_worksheet("warnings")
        for r, warning in enumerate(report["warnings"]):
            notes.write(r, 0, warning)
    book.close()
    return buffer.getvalue()
