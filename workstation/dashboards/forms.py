"""Query parameters of the dashboards (pages and API share them)."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.utils import timezone

from workstation.dashboards.metrics.tables import Grouping, MetricsFilter

MAX_RANGE_DAYS = 366


class DashboardFilterForm(forms.Form):
    """``since``/``until`` are whole UTC days (``until`` included); default: the last 30."""

    since = forms.DateField(required=False)
    until = forms.DateField(required=False)
    modality = forms.RegexField(regex=r"^[A-Za-z]{2,16}$", required=False, max_length=16)
    model_version = forms.CharField(required=False, max_length=128, strip=True)
    radiologist = forms.CharField(required=False, max_length=150, strip=True)
    group = forms.ChoiceField(
        required=False, choices=[(g.value, g.value.replace("_", " ")) for g in Grouping]
    )

    def clean(self) -> dict[str, object]:
        data = super().clean() or {}
        today = timezone.now().astimezone(dt.UTC).date()
        until = data.get("until") or today
        since = data.get("since") or (until - dt.timedelta(days=29))
        if since > until:
            raise forms.ValidationError("since must not be after until")
        if (until - since).days >= MAX_RANGE_DAYS:
            raise forms.ValidationError(f"a range is at most {MAX_RANGE_DAYS} days")
        data["since"], data["until"] = since, until
        return data

    def metrics_filter(self, now: dt.datetime | None = None) -> MetricsFilter:
        """The validated filter (call after ``is_valid()``)."""
        data = self.cleaned_data
        start = dt.datetime.combine(data["since"], dt.time(), tzinfo=dt.UTC)
        end = dt.datetime.combine(data["until"], dt.time(), tzinfo=dt.UTC) + dt.timedelta(days=1)
        return MetricsFilter(
            since=start,
            until=end,
            now=now or timezone.now(),
            modality=(data.get("modality") or "").upper(),
            model_version=data.get("model_version") or "",
            radiologist=data.get("radiologist") or "",
            group=Grouping(data.get("group") or Grouping.DAY),
        )


def filter_errors(form: forms.Form) -> str:
    return "; ".join(f"{k}: {' '.join(str(e) for e in v)}" for k, v in form.errors.items())
