"""A report's files: the Excel workbook (``openpyxl``) and, when asked, a PNG chart (``matplotlib``, Agg).

The workbook has a data sheet (the header row bold, frozen and filtered; numbers as numbers, dates as dates,
columns as wide as their content), a summary sheet (rows, totals and averages of the numeric columns, when it
was made, from what) and a bar chart of the first numeric column. Both libraries are imported when a report is
built, never by the web process."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from wahub.automations.report_sources import Table

WIDTH_MIN, WIDTH_MAX = 8, 60
DATE_FORMAT, DATETIME_FORMAT = "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"


@dataclass(frozen=True, slots=True)
class Summary:
    rows: int
    totals: dict[str, float]  # numeric column -> sum
    averages: dict[str, float]


def numeric_columns(table: Table) -> list[int]:
    """Columns whose non-empty cells are all numbers (at least one)."""
    found = []
    for i in range(len(table.columns)):
        cells = [row[i] for row in table.rows if row[i] is not None]
        if cells and all(isinstance(c, int | float) and not isinstance(c, bool) for c in cells):
            found.append(i)
    return found


def summarise(table: Table) -> Summary:
    totals, averages = {}, {}
    for i in numeric_columns(table):
        cells = [row[i] for row in table.rows if row[i] is not None]
        totals[table.columns[i]] = sum(cells)
        averages[table.columns[i]] = sum(cells) / len(cells)
    return Summary(len(table.rows), totals, averages)


def workbook(table: Table, *, title: str, generated_at: datetime) -> bytes:
    """The .xlsx file's bytes."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    data = book.active
    assert data is not None
    data.title = "Data"
    data.append(table.columns)
    for cell in data[1]:
        cell.font = Font(bold=True)
    for row in table.rows:
        data.append(row)
    width = max(1, len(table.columns))
    last = len(table.rows) + 1
    for i in range(width):
        letter = get_column_letter(i + 1)
        sample = [table.columns[i] if i < len(table.columns) else ""] + [r[i] for r in table.rows[:1000]]
        data.column_dimensions[letter].width = min(WIDTH_MAX, max(WIDTH_MIN, *(len(_shown(v)) + 2 for v in sample)))
        for (cell,) in data.iter_rows(min_row=2, max_row=last, min_col=i + 1, max_col=i + 1):
            if isinstance(cell.value, datetime):
                cell.number_format = DATETIME_FORMAT
            elif isinstance(cell.value, date):
                cell.number_format = DATE_FORMAT
    data.freeze_panes = "A2"
    data.auto_filter.ref = f"A1:{get_column_letter(width)}{last}"

    summary = summarise(table)
    sheet = book.create_sheet("Summary")
    sheet.append(["Report", title])
    sheet.append(["Source", table.source])
    sheet.append(["Generated at (UTC)", generated_at.replace(tzinfo=None)])
    sheet["B3"].number_format = DATETIME_FORMAT
    sheet.append(["Rows", summary.rows])
    sheet.append([])
    sheet.append(["Column", "Total", "Average"])
    for cell in sheet[6]:
        cell.font = Font(bold=True)
    for name, total in summary.totals.items():
        sheet.append([name, total, summary.averages[name]])
    sheet.column_dimensions["A"].width = 22
    sheet.column_dimensions["B"].width = max(20, min(WIDTH_MAX, len(table.source) + 2))
    sheet.column_dimensions["C"].width = 14

    numeric = numeric_columns(table)
    if numeric and table.rows:
        chart = BarChart()
        chart.title = f"{title}: {table.columns[numeric[0]]}"
        chart.y_axis.title = table.columns[numeric[0]]
        chart.x_axis.title = table.columns[0]
        values = Reference(data, min_col=numeric[0] + 1, min_row=1, max_row=last)
        chart.add_data(values, titles_from_data=True)
        chart.set_categories(Reference(data, min_col=1, min_row=2, max_row=last))
        chart.width, chart.height = 24, 12
        sheet.add_chart(chart, "E2")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def png(table: Table, *, title: str) -> bytes | None:
    """A bar chart of the first numeric column by the first column, as PNG; None without a numeric column."""
    numeric = numeric_columns(table)
    if not numeric or not table.rows:
        return None
    import matplotlib

    matplotlib.use("Agg")  # no display: draw into memory
    from matplotlib.figure import Figure

    column = numeric[0]
    labels = [_shown(row[0]) for row in table.rows]
    values = [row[column] or 0 for row in table.rows]
    figure = Figure(figsize=(10, 5), dpi=100)
    axes = figure.subplots()
    axes.bar(range(len(values)), values, color="#25D366")
    axes.set_title(f"{title}: {table.columns[column]}")
    axes.set_ylabel(table.columns[column])
    step = max(1, len(labels) // 20)  # at most about twenty labels under the bars
    axes.set_xticks(range(0, len(labels), step), labels[::step], rotation=45, ha="right")
    figure.tight_layout()
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
