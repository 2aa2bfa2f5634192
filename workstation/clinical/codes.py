"""The catalogue of clinical values the workstation understands: one entry per concept, with
its codes (LOINC, HL7 v2 aliases), its UCUM unit, the unit conversions accepted at intake,
and a default adult reference range. Django-free.

Everything that arrives is converted to the catalogue unit at intake, so the fusion model
and the reasoning rules see one unit per concept. A value in a unit that cannot be
converted is refused (400 / NACK naming the unit), never stored as if it were comparable.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
UCUM: Final = "http://unitsofmeasure.org"


class UnitError(ValueError):
    """A unit that the catalogue cannot convert to its UCUM unit."""


@dataclass(frozen=True)
class CodeDef:
    """One concept. ``group`` is "labs_vitals", "demographics", "history" or "request"."""

    key: str
    display: str
    group: str
    unit: str = ""  # UCUM; "" for text values
    loinc: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()  # HL7 v2 OBX-3 local codes / names, upper case
    convert: Mapping[str, Callable[[float], float]] = field(default_factory=dict)
    reference: tuple[float | None, float | None] = (None, None)


def _identity(v: float) -> float:
    return v


def _times(factor: float) -> Callable[[float], float]:
    return lambda v: v * factor


CATALOGUE: Final[Mapping[str, CodeDef]] = MappingProxyType(
    {
        c.key: c
        for c in (
            CodeDef(
                "crp",
                "C-reactive protein",
                "labs_vitals",
                "mg/L",
                ("1988-5", "30522-7", "76485-2"),
                ("CRP",),
                {"mg/L": _identity, "ug/mL": _identity, "mg/dL": _times(10.0)},
                (0.0, 5.0),
            ),
            CodeDef(
                "wbc",
                "Leukocytes",
                "labs_vitals",
                "10*9/L",
                ("6690-2", "26464-8", "804-5"),
                ("WBC", "LEUK"),
                {
                    "10*9/L": _identity,
                    "10^9/L": _identity,
                    "10*3/uL": _identity,
                    "10^3/uL": _identity,
                    "x10E3/uL": _identity,
                    "/nL": _identity,
                    "G/L": _identity,
                },
                (4.0, 11.0),
            ),
            CodeDef(
                "procalcitonin",
                "Procalcitonin",
                "labs_vitals",
                "ng/mL",
                ("33959-8", "75241-0"),
                ("PCT",),
                {"ng/mL": _identity, "ug/L": _identity},
                (0.0, 0.5),
            ),
            CodeDef(
                "spo2",
                "Oxygen saturation (SpO2)",
                "labs_vitals",
                "%",
                ("59408-5", "2708-6", "2710-2", "20564-1"),
                ("SPO2", "O2SAT"),
                {"%": _identity},
                (94.0, 100.0),
            ),
            CodeDef(
                "temperature",
                "Body temperature",
                "labs_vitals",
                "Cel",
                ("8310-5", "8331-1", "8332-9", "8333-7"),
                ("TEMP",),
                {
                    "Cel": _identity,
                    "degC": _identity,
                    "[degF]": lambda f: (f - 32.0) * 5.0 / 9.0,
                    "degF": lambda f: (f - 32.0) * 5.0 / 9.0,
                },
                (36.1, 37.8),
            ),
            CodeDef(
                "smoking_status",
                "Tobacco smoking status",
                "demographics",
                "",
                ("72166-2",),
                ("SMOKING",),
            ),
            CodeDef(
                "body_height",
                "Body height",
                "demographics",
                "cm",
                ("8302-2",),
                ("HEIGHT",),
                {"cm": _identity, "m": _times(100.0), "[in_i]": _times(2.54)},
            ),
            CodeDef(
                "body_weight",
                "Body weight",
                "demographics",
                "kg",
                ("29463-7", "3141-9"),
                ("WEIGHT",),
                {"kg": _identity, "g": _times(0.001), "[lb_av]": _times(0.45359237)},
            ),
            CodeDef("age", "Age", "demographics", "a", ("30525-0",), (), {"a": _identity}),
            CodeDef("sex", "Sex", "demographics"),
            CodeDef("indication", "Reason for the examination", "request"),
            CodeDef("requested_procedure", "Requested procedure", "request"),
            CodeDef("history", "Clinical history", "history"),
            CodeDef("condition", "Known condition", "history"),
            CodeDef("admitting_diagnosis", "Admitting diagnosis", "history"),
        )
    }
)
OTHER: Final = "other"  # an observation outside the catalogue: kept, shown, not fused

#: SNOMED CT smoking status concepts (the FHIR US Core / IPS value set) -> our three bands.
SMOKING_SNOMED: Final[Mapping[str, str]] = MappingProxyType(
    {
        "449868002": "current",  # current every day smoker
        "428041000124106": "current",  # current some day smoker
        "77176002": "current",  # smoker
        "428071000124103": "current",  # heavy tobacco smoker
        "428061000124105": "current",  # light tobacco smoker
        "8517006": "former",  # ex-smoker
        "266919005": "never",  # never smoked tobacco
        "266927001": "",  # tobacco smoking consumption unknown
    }
)
_SMOKING_WORDS: Final = (
    ("never", "never"),
    ("non", "never"),
    ("ex", "former"),
    ("former", "former"),
)


def smoking_band(text: str) -> str:
    """ "current", "former", "never" or "" from a SNOMED code or a free-text status."""
    text = text.strip()
    if text in SMOKING_SNOMED:
        return SMOKING_SNOMED[text]
    lowered = text.lower()
    for word, band in _SMOKING_WORDS:
        if lowered.startswith(word):
            return band
    return "current" if "smok" in lowered or "current" in lowered else ""


def by_loinc(code: str) -> CodeDef | None:
    return next((c for c in CATALOGUE.values() if code in c.loinc), None)


def by_alias(name: str) -> CodeDef | None:
    wanted = name.strip().upper()
    return next((c for c in CATALOGUE.values() if wanted in c.aliases), None)


def to_catalogue_unit(code: CodeDef, value: float, unit: str) -> float:
    """``value`` in ``unit`` converted to ``code.unit``. A missing unit is refused like a
    wrong one, so a bare number never passes as mg/L. Raises ``UnitError``."""
    convert = code.convert.get(unit.strip())
    if convert is None:
        accepted = ", ".join(code.convert) or "none"
        raise UnitError(
            f"unit {unit!r} for {code.display} cannot be converted to {code.unit!r} "
            f"(accepted: {accepted})"
        )
    return float(convert(value))


def abnormal_flag(code: CodeDef, value: float, low: float | None, high: float | None) -> str:
    """HL7 table 0078 flag from the given range, else the catalogue's default range."""
    low = code.reference[0] if low is None else low
    high = code.reference[1] if high is None else high
    if high is not None and value > high:
        return "H"
    if low is not None and value < low:
        return "L"
    return "N" if low is not None or high is not None else ""
