"""The 3,955 Indiana University chest X-ray reports (Open-i, Demner-Fushman et al., 2016).

They ship inside the ``torchxrayvision`` wheel as ``torchxrayvision/data/NLMCXR_reports.tgz``
(one Open-i XML per report, CC BY-NC-ND 4.0). The package is only *located*, never imported:
importing it needs torchvision, which this project does not install. Imports no Django.

Reports are used as a sentence bank (retrieval backend) and as the gold standard for the
rule-based labeller, through the MeSH major terms the NLM indexers attached to each report
(see :func:`mesh_to_labels`).
"""

from __future__ import annotations

import importlib.util
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from inference.labels import Label

PACKAGE = "torchxrayvision"
ARCHIVE_NAME = "NLMCXR_reports.tgz"


class IUReportsUnavailable(FileNotFoundError):
    """``torchxrayvision`` is not installed, or its wheel lacks the report archive."""


@dataclass(frozen=True)
class IUReport:
    """One IU X-ray report as published; empty sections are ``""``.

    ``mesh_major`` holds the indexers' MeSH major terms as written, e.g.
    ``"Opacity/lung/base/left"`` (term, then ``/``-separated qualifiers), or ``"normal"``.
    ``mesh_minor`` holds the files' ``<automatic>`` terms (automatically extracted, the only
    non-major MeSH list these files carry; ``<minor>`` elements are read too, should one occur).
    The anonymisation left ``XXXX`` in place of removed words; it is kept verbatim.
    """

    report_id: str  # "CXR3029"
    comparison: str
    indication: str
    findings: str
    impression: str
    mesh_major: tuple[str, ...]
    mesh_minor: tuple[str, ...]
    image_ids: tuple[str, ...]  # "CXR3029_IM-1404-1001"

    @property
    def text(self) -> str:
        """Findings then impression, the part a labeller reads."""
        return " ".join(part for part in (self.findings, self.impression) if part)


def archive_path() -> Path:
    """Where the installed ``torchxrayvision`` keeps ``NLMCXR_reports.tgz``.

    Raises:
        IUReportsUnavailable: the package is not installed or the archive is missing.
    """
    spec = importlib.util.find_spec(PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / "data" / ARCHIVE_NAME
        if candidate.is_file():
            return candidate
    raise IUReportsUnavailable(f"{PACKAGE} with data/{ARCHIVE_NAME} is not installed")


def _text(element: ET.Element | None) -> str:
    return " ".join((element.text or "").split()) if element is not None else ""


def parse_report(xml_bytes: bytes) -> IUReport:
    """One Open-i XML document as an :class:`IUReport`.

    Raises:
        ValueError: the document is not an Open-i report (no ``uId``) or not well-formed XML.
    """
    try:
        root = ET.fromstring(xml_bytes)  # noqa: S314 - trusted archive, see the import
    except ET.ParseError as error:
        raise ValueError(f"not well-formed XML: {error}") from error
    uid = root.find("uId")
    if uid is None or not uid.get("id"):
        raise ValueError("not an Open-i report: no uId")
    sections = {
        (node.get("Label") or "").upper(): _text(node) for node in root.iter("AbstractText")
    }
    mesh = root.find("MeSH")
    mesh_nodes = list(mesh) if mesh is not None else []
    return IUReport(
        report_id=uid.get("id", ""),
        comparison=sections.get("COMPARISON", ""),
        indication=sections.get("INDICATION", ""),
        findings=sections.get("FINDINGS", ""),
        impression=sections.get("IMPRESSION", ""),
        mesh_major=tuple(_text(n) for n in mesh_nodes if n.tag == "major" and _text(n)),
        mesh_minor=tuple(
            _text(n) for n in mesh_nodes if n.tag in {"minor", "automatic"} and _text(n)
        ),
        image_ids=tuple(
            image_id for node in root.iter("parentImage") if (image_id := node.get("id", ""))
        ),
    )


def iter_iu_reports(path: Path | None = None) -> Iterator[IUReport]:
    """Every report in the archive, in ascending numeric report order.

    Args:
        path: the ``.tgz``; default :func:`archive_path`.

    Raises:
        IUReportsUnavailable: no path given and the package is not installed.
        ValueError: a member is not an Open-i report.
    """
    source = path if path is not None else archive_path()
    with tarfile.open(source, mode="r:gz") as archive:
        members = [m for m in archive.getmembers() if m.isfile() and m.name.endswith(".xml")]
        members.sort(key=lambda m: (len(Path(m.name).stem), Path(m.name).stem))
        for member in members:
            handle = archive.extractfile(member)
            if handle is None:
                continue
            with handle:
                yield parse_report(handle.read())


def load_iu_reports(path: Path | None = None) -> tuple[IUReport, ...]:
    """All reports of the archive (3,955 in torchxrayvision 1.x); see :func:`iter_iu_reports`."""
    return tuple(iter_iu_reports(path))


# --- MeSH major terms -> CheXpert labels ---------------------------------------------------
#
# The term is the part of a MeSH major string before the first "/"; the rest are qualifiers
# (site, side, severity). Decisions, each following CheXpert's own labelling conventions:
# - Calcified granulomas, granulomatous disease and calcified nodules (a Nodule term with a
#   Calcinosis/granuloma term at the same site) are NOT Lung Lesion. They are benign, healed
#   findings; CheXpert's labeller excludes "calcified nodule" from Lung Lesion too, and Lung
#   Lesion is a critical finding here, so a granuloma must not raise it.
# - Lung scarring (Cicatrix of the lung) and interstitial markings are Lung Opacity, as in
#   CheXpert's phrase list ("scar", "interstitial marking"); pleural scarring and pleural
#   thickening are Pleural Other.
# - Pulmonary congestion and heart failure are Edema (CheXpert: "vascular congestion", "chf").
# - A blunted costophrenic angle/sulcus is Pleural Effusion (the radiographic sign of fluid).
# - Hydro-/haemo-pneumothorax is both Pneumothorax and Pleural Effusion.
# - Indwelling catheters, tubes, implanted devices (pacemakers, valves) and stents are Support
#   Devices. Surgical clips and sternotomy wires ("Surgical Instruments"), sutures, foreign
#   bodies, breast implants and spinal fusion are not: they support nothing, and CheXpert's
#   device phrases leave them out too.
# - Healed fractures are Fracture, as in CheXpert.

#: Terms that map to labels whatever their qualifiers.
MESH_TERM_LABELS: dict[str, frozenset[Label]] = {
    "normal": frozenset({Label.NO_FINDING}),
    "Cardiomegaly": frozenset({Label.CARDIOMEGALY}),
    "Pleural Effusion": frozenset({Label.PLEURAL_EFFUSION}),
    "Hemothorax": frozenset({Label.PLEURAL_EFFUSION}),
    "Pneumothorax": frozenset({Label.PNEUMOTHORAX}),
    "Hydropneumothorax": frozenset({Label.PNEUMOTHORAX, Label.PLEURAL_EFFUSION}),
    "Hemopneumothorax": frozenset({Label.PNEUMOTHORAX, Label.PLEURAL_EFFUSION}),
    "Pulmonary Atelectasis": frozenset({Label.ATELECTASIS}),
    "Atelectasis": frozenset({Label.ATELECTASIS}),
    "Pulmonary Edema": frozenset({Label.EDEMA}),
    "Pulmonary Congestion": frozenset({Label.EDEMA}),
    "Heart Failure": frozenset({Label.EDEMA}),
    "Consolidation": frozenset({Label.CONSOLIDATION}),
    "Pneumonia": frozenset({Label.PNEUMONIA}),
    "Opacity": frozenset({Label.LUNG_OPACITY}),
    "Infiltrate": frozenset({Label.LUNG_OPACITY}),
    "Airspace Disease": frozenset({Label.LUNG_OPACITY}),
    "Nodule": frozenset({Label.LUNG_LESION}),
    "Fractures, Bone": frozenset({Label.FRACTURE}),
    "Catheters, Indwelling": frozenset({Label.SUPPORT_DEVICES}),
    "Implanted Medical Device": frozenset({Label.SUPPORT_DEVICES}),
    "Medical Device": frozenset({Label.SUPPORT_DEVICES}),
    "Tube, Inserted": frozenset({Label.SUPPORT_DEVICES}),
    "Stents": frozenset({Label.SUPPORT_DEVICES}),
}


@dataclass(frozen=True)
class QualifiedRule:
    """A term that maps to ``label`` only with one of ``any_of`` among its qualifiers."""

    term: str
    any_of: frozenset[str]
    label: Label
    none_of: frozenset[str] = frozenset()


#: Terms whose meaning depends on the qualifiers ("Cardiac Shadow/enlarged" vs "/obscured").
MESH_QUALIFIED_RULES: tuple[QualifiedRule, ...] = (
    QualifiedRule("Cardiac Shadow", frozenset({"enlarged"}), Label.CARDIOMEGALY),
    QualifiedRule(
        "Mediastinum",
        frozenset({"enlarged", "prominent"}),
        Label.ENLARGED_CARDIOMEDIASTINUM,
        none_of=frozenset({"lymph nodes"}),
    ),
    QualifiedRule("Costophrenic Angle", frozenset({"blunted"}), Label.PLEURAL_EFFUSION),
    QualifiedRule("Sulcus", frozenset({"blunted"}), Label.PLEURAL_EFFUSION),
    QualifiedRule("Pleura", frozenset({"blunted"}), Label.PLEURAL_EFFUSION),
    QualifiedRule("Thickening", frozenset({"pleura"}), Label.PLEURAL_OTHER),
    QualifiedRule("Cicatrix", frozenset({"pleura"}), Label.PLEURAL_OTHER),
    QualifiedRule(
        "Cicatrix", frozenset({"lung"}), Label.LUNG_OPACITY, none_of=frozenset({"pleura"})
    ),
    QualifiedRule("Density", frozenset({"lung", "retrocardiac"}), Label.LUNG_OPACITY),
    QualifiedRule("Markings", frozenset({"interstitial"}), Label.LUNG_OPACITY),
    QualifiedRule("Calcinosis", frozenset({"pleura"}), Label.PLEURAL_OTHER),
    QualifiedRule("Mass", frozenset({"lung", "thorax"}), Label.LUNG_LESION),
    QualifiedRule("Cysts", frozenset({"lung"}), Label.LUNG_LESION),
    QualifiedRule("Cavitation", frozenset({"lung"}), Label.LUNG_LESION),
)


#: Terms that, at a nodule's site, make it a calcified (benign, healed) nodule.
_CALCIFICATION_TERMS = frozenset({"Calcinosis", "Calcified Granuloma", "Granuloma"})
#: Qualifiers that describe number or look, not where: ignored when matching sites.
_NON_SITE_QUALIFIERS = frozenset(
    {"multiple", "small", "large", "scattered", "round", "prominent", "focal", "mild", "chronic"}
)


def _qualifiers(mesh: str) -> set[str]:
    return {" ".join(q.split()).lower() for q in mesh.split("/")[1:]}


def _site(mesh: str) -> frozenset[str]:
    return frozenset(_qualifiers(mesh) - _NON_SITE_QUALIFIERS)


def mesh_term(mesh: str) -> str:
    """The MeSH term of a major-term string: ``"Opacity/lung/base/left"`` -> ``"Opacity"``."""
    return " ".join(mesh.split("/", 1)[0].split())


def mesh_to_labels(mesh_major: tuple[str, ...] | list[str]) -> frozenset[Label]:
    """The CheXpert labels a report's MeSH major terms assert (all as present).

    ``"normal"`` gives :attr:`Label.NO_FINDING`, and so does a report indexed with support
    devices only (CheXpert: devices do not count against "No Finding"). Terms with no CheXpert
    counterpart (spine, aorta, emphysema, granulomas, ...) give nothing. The mapping is
    :data:`MESH_TERM_LABELS` plus :data:`MESH_QUALIFIED_RULES`; the comment above them records
    each decision.
    """
    labels: set[Label] = set()
    if mesh_major and all(
        MESH_TERM_LABELS.get(mesh_term(m)) == frozenset({Label.SUPPORT_DEVICES}) for m in mesh_major
    ):
        # CheXpert: support devices do not count against "No Finding".
        labels.add(Label.NO_FINDING)
    calcified_sites = {
        _site(mesh) for mesh in mesh_major if mesh_term(mesh) in _CALCIFICATION_TERMS
    }
    for mesh in mesh_major:
        term = mesh_term(mesh)
        if term == "Nodule" and _site(mesh) in calcified_sites:
            # MeSH post-coordinates "calcified nodule" as Nodule + Calcinosis at one site.
            continue
        labels |= MESH_TERM_LABELS.get(term, frozenset())
        qualifiers = _qualifiers(mesh)
        for rule in MESH_QUALIFIED_RULES:
            if rule.term == term and qualifiers & rule.any_of and not qualifiers & rule.none_of:
                labels.add(rule.label)
    return frozenset(labels)


# --- Agreement of a labeller with the MeSH index ------------------------------------------

#: Reports indexed "No Indexing" were never indexed: their MeSH terms say nothing.
UNINDEXED_TERM = "No Indexing"


def is_evaluable(report: IUReport) -> bool:
    """Whether a report can score a text labeller: indexed, and with findings or impression."""
    terms = {mesh_term(m) for m in report.mesh_major}
    return bool(terms) and UNINDEXED_TERM not in terms and bool(report.text.strip())


@dataclass(frozen=True)
class LabelScore:
    """Counts of one label over a set of reports (a report is one decision per label)."""

    label: Label
    tp: int
    fp: int
    fn: int

    @property
    def support(self) -> int:
        """Reports where the reference has the label."""
        return self.tp + self.fn

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        denominator = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denominator if denominator else 0.0


@dataclass(frozen=True)
class Agreement:
    """Per-label and pooled agreement of predicted label sets with reference label sets."""

    n_reports: int
    scores: tuple[LabelScore, ...]  # one per label with support or predictions, CheXpert order

    @property
    def micro_f1(self) -> float:
        """F1 of the pooled counts over all labels."""
        tp = sum(s.tp for s in self.scores)
        fp = sum(s.fp for s in self.scores)
        fn = sum(s.fn for s in self.scores)
        return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0

    @property
    def macro_f1(self) -> float:
        """Mean F1 over the labels the reference contains."""
        supported = [s.f1 for s in self.scores if s.support]
        return sum(supported) / len(supported) if supported else 0.0

    def by_label(self) -> dict[Label, LabelScore]:
        return {s.label: s for s in self.scores}


def agreement(
    predicted: list[frozenset[Label]] | list[set[Label]],
    reference: list[frozenset[Label]] | list[set[Label]],
) -> Agreement:
    """Score predicted label sets against reference label sets, report by report.

    Raises:
        ValueError: the two lists differ in length.
    """
    if len(predicted) != len(reference):
        raise ValueError(f"{len(predicted)} predictions for {len(reference)} references")
    scores = []
    for label in Label:
        tp = sum(1 for p, r in zip(predicted, reference, strict=True) if label in p and label in r)
        fp = sum(
            1 for p, r in zip(predicted, reference, strict=True) if label in p and label not in r
        )
        fn = sum(
            1 for p, r in zip(predicted, reference, strict=True) if label not in p and label in r
        )
        if tp or fp or fn:
            scores.append(LabelScore(label=label, tp=tp, fp=fp, fn=fn))
    return Agreement(n_reports=len(predicted), scores=tuple(scores))
