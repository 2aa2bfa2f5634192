"""The shapes every dashboard figure takes: a filter in, named tables out (JSON and CSV)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Grouping(StrEnum):
    DAY = "day"  # UTC day the study was received
    MODALITY = "modality"
    RADIOLOGIST = "radiologist"  # who signed
    MODEL_VERSION = "model_version"  # the model version of the AI draft (version 0)


@dataclass(frozen=True)
class MetricsFilter:
    """Studies received in ``[since, until)``, optionally narrowed; ``now`` ages the backlog."""

    since: dt.datetime
    until: dt.datetime
    now: dt.datetime
    modality: str = ""
    model_version: str = ""
    radiologist: str = ""
    group: Grouping = Grouping.DAY

    def params(self) -> dict[str, Any]:
        """Named parameters of the SQL in :mod:`.sql`."""
        return {
            "since": self.since,
            "until": self.until,
            "now": self.now,
            "modality": self.modality,
            "model_version": self.model_version,
            "radiologist": self.radiologist,
        }

    def cache_key(self) -> str:
        minute = self.now.replace(second=0, microsecond=0)
        return "|".join(
            [
                self.since.isoformat(),
                self.until.isoformat(),
                minute.isoformat(),
                self.modality,
                self.model_version,
                self.radiologist,
                self.group.value,
            ]
        )


@dataclass(frozen=True)
class Table:
    """One dashboard table: what the page shows, the API returns and the CSV export writes."""

    name: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list)

    def as_dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "columns": list(self.columns),
            "rows": [{k: _jsonable(v) for k, v in row.items()} for row in self.as_dicts()],
        }

    def as_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        for row in self.rows:
            writer.writerow([_csv_cell(v) for v in row])
        return out.getvalue()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def _csv_cell(value: Any) -> str:
    """Text for a CSV cell; a leading = + - @ is quoted so spreadsheets never run it."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(round(value, 6))
    text = str(value)
    if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def table_index(tables: Sequence[Table]) -> dict[str, Table]:
    return {table.name: table for table in tables}
