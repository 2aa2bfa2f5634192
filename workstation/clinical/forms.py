"""The form for values typed by hand in the workstation (source "manual")."""

from __future__ import annotations

from typing import Any

from django import forms

from workstation.clinical.codes import (
    CATALOGUE,
    UnitError,
    abnormal_flag,
    smoking_band,
    to_catalogue_unit,
)
from workstation.clinical.models import ValueKind

_KIND = {
    "labs_vitals": ValueKind.OBSERVATION,
    "demographics": ValueKind.OBSERVATION,
    "history": ValueKind.CONDITION,
    "request": ValueKind.REQUEST,
}
ENTERABLE = tuple(
    (key, f"{c.display} ({c.unit})" if c.unit else c.display)
    for key, c in CATALOGUE.items()
    if key not in ("age", "sex")  # from the header / Patient, not typed per study
)


class ClinicalValueForm(forms.Form):
    code = forms.ChoiceField(choices=ENTERABLE)
    value = forms.CharField(max_length=2000)
    unit = forms.CharField(
        max_length=32, required=False, help_text="UCUM, e.g. mg/L, Cel, [degF], %"
    )
    observed_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="when it was measured or stated (server time zone)",
    )
    reference_low = forms.FloatField(required=False)
    reference_high = forms.FloatField(required=False)

    def clean(self) -> dict[str, Any]:
        """Convert a number to the catalogue's UCUM unit (or refuse the unit) and compute
        the abnormal flag; texts are kept as typed."""
        data = super().clean() or {}
        code = CATALOGUE.get(str(data.get("code", "")))
        raw = str(data.get("value", "")).strip()
        if code is None or not raw:
            return data
        data["kind"] = _KIND[code.group]
        data["display"] = code.display
        if not code.unit:
            data["value_text"] = smoking_band(raw) or raw if code.key == "smoking_status" else raw
            data["value_number"] = None
            data["unit"] = ""
            return data
        unit = str(data.get("unit") or code.unit)
        try:
            number = float(raw)
            value = to_catalogue_unit(code, number, unit)
            low = data.get("reference_low")
            high = data.get("reference_high")
            low = None if low is None else to_catalogue_unit(code, low, unit)
            high = None if high is None else to_catalogue_unit(code, high, unit)
        except ValueError as exc:
            message = str(exc) if isinstance(exc, UnitError) else f"{raw!r} is not a number"
            raise forms.ValidationError(message) from exc
        data.update(
            value_number=round(value, 4),
            value_text="",
            unit=code.unit,
            reference_low=low,
            reference_high=high,
            abnormal_flag=abnormal_flag(code, value, low, high),
        )
        return data
