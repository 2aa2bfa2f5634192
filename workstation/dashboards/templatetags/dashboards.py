"""Template filters of the dashboard pages."""

from __future__ import annotations

import datetime as dt

from django import template

register = template.Library()


@register.filter
def cell(value: object) -> str:
    """A table cell for people: whole numbers and numbers from 1000 up without decimals,
    others to 4 significant digits, times in UTC to the second, missing values as a dash."""
    if value is None:
        return "\N{EN DASH}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value.is_integer() or abs(value) >= 1000:
            return f"{value:.0f}"
        return f"{value:.4g}"
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


@register.filter
def heading(name: str) -> str:
    return name.replace("_", " ")
