"""What a report is: where its data comes from, what its file is called, who gets it and from which account.
The same fields in ``wahub.toml`` (``[reports.NAME]``) and in ``POST /api/v1/reports``; checked here, no I/O.

A ``sql`` source names a database of ``[report_databases]`` (``NAME = "postgresql://…"``) rather than carrying
a URL: the credentials stay in the configuration, never in the database or an API response, and an API user
can query only the databases the operator listed."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from wahub import domain, errors

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Definition(BaseModel):
    """One report. ``file_name`` is formatted with ``date`` (the run's time in ``tz``) and ``name``."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["stats", "sql", "csv", "xlsx"] = Field(
        description="stats: wahub's statistics by day; sql: a query on a database of [report_databases]; "
        "csv or xlsx: a file path or an http(s) URL"
    )
    days: int = Field(default=7, ge=1, le=366, description="stats: the last this many days")
    database: str | None = Field(default=None, description="sql: a name in [report_databases]")
    query: str | None = Field(default=None, max_length=20_000, description="sql: one SELECT, run read-only")
    path: str | None = Field(default=None, max_length=2000, description="csv or xlsx: a file path or an http(s) URL")
    timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="how long the source may take")
    file_name: str = Field(
        default="{name}-{date:%Y-%m-%d}.xlsx", max_length=200, description="the file's name; {date:…} and {name}"
    )
    tz: str = Field(default="UTC", max_length=64, description="the time zone of {date} (IANA)")
    to: list[str] = Field(default_factory=list, max_length=100, description="contacts' numbers (E.164)")
    groups: list[str] = Field(default_factory=list, max_length=100, description="group ids")
    sender: str | None = Field(default=None, description="the phone_number_id to send from; none: the default")
    caption: str | None = Field(default=None, max_length=1024)
    image: bool = Field(default=False, description="also send a PNG chart of the first numeric column")

    @field_validator("to")
    @classmethod
    def _numbers(cls, value: list[str]) -> list[str]:
        out = []
        for number in value:
            try:
                out.append(domain.e164_digits(number))
            except ValueError:
                raise ValueError(f"not a valid phone number: {number!r} (use E.164, e.g. +14155550101)") from None
        return out

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _whole(self) -> Definition:
        if self.source == "sql" and not (self.database and self.query):
            raise ValueError("a sql source needs 'database' (a name in [report_databases]) and 'query'")
        if self.source in ("csv", "xlsx") and not self.path:
            raise ValueError(f"a {self.source} source needs 'path' (a file path or an http(s) URL)")
        if not self.to and not self.groups:
            raise ValueError("give recipients: 'to' (numbers) and/or 'groups' (group ids)")
        self.file_for(datetime(2026, 1, 31, 23, 59), "report")  # a pattern that cannot be formatted fails now
        return self

    def file_for(self, when: datetime, name: str) -> str:
        """The file name of a run at ``when``: the pattern formatted, ``.xlsx`` added if missing."""
        try:
            formatted = self.file_name.format(date=when, name=name)
        except (KeyError, IndexError, ValueError, AttributeError) as exc:
            raise ValueError(f"file_name: cannot be formatted ({exc}); use {{date:%Y-%m-%d}} and {{name}}") from None
        if "/" in formatted or "\\" in formatted or formatted.startswith("."):
            raise ValueError("file_name: a name, not a path")
        return formatted if formatted.lower().endswith(".xlsx") else formatted + ".xlsx"


def check_name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise errors.InvalidInput(
            "name: letters, digits, '_', '.', '-', at most 64, starting with a letter or digit", field="name"
        )
    return name


def parse(raw: dict[str, Any], where: str = "report") -> Definition:
    """``raw`` checked; ``InvalidInput`` names the first field that is wrong."""
    try:
        return Definition.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or where
        message = str(first["msg"]).removeprefix("Value error, ")
        raise errors.InvalidInput(f"{where}: {field}: {message}", field=field) from None


def configured(settings_reports: dict[str, dict[str, Any]], name: str) -> Definition | None:
    """The report ``name`` of ``wahub.toml``, checked, or None."""
    raw = settings_reports.get(name)
    return None if raw is None else parse(raw, f"[reports.{name}]")
