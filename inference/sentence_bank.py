"""The sentence bank of the retrieval backend: real radiologists' sentences, labelled and embedded.

Built from the IU X-ray reports (findings + impression) and, through
:meth:`SentenceBank.from_texts`, from the department's signed reports. Each sentence is
deduplicated (case, spacing and a final full stop ignored; the first source and the number of
occurrences kept), read by the rule labeller, classified into the normal regions it
states (:class:`NormalRegion`), tagged with the sides it names, and embedded with a
:class:`~inference.drafting.encoder.SentenceEncoder`. A bank is saved as ``<name>.npz``
(embeddings) + ``<name>.json`` (sentences), the name carrying a hash of the content and the
encoder, so a cached file can never be read for other sentences. Imports no Django.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from inference.drafting.encoder import SentenceEncoder, load_minilm
from inference.iu_reports import IUReport, load_iu_reports
from inference.labeller import label_sentences, split_sentences
from inference.labels import Label, Mention
from inference.types import Laterality

IU_SOURCE_PREFIX = "iu-xray"
BANK_FORMAT = 4  # bumped when BankSentence's fields or the classification rules change


class NormalRegion(StrEnum):
    """A region a normal statement covers ("The lungs are clear" covers LUNGS)."""

    LUNGS = "lungs"
    PLEURAL_EFFUSION = "pleural_effusion"
    PNEUMOTHORAX = "pneumothorax"
    HEART = "heart"
    MEDIASTINUM = "mediastinum"
    BONES = "bones"
    STUDY = "study"  # "No acute cardiopulmonary abnormality": the whole study is normal


#: The labels a normal statement about a region denies. A region's statement may be used only
#: when none of these is among the findings.
REGION_LABELS: Final[dict[NormalRegion, frozenset[Label]]] = {
    NormalRegion.LUNGS: frozenset(
        {
            Label.LUNG_OPACITY,
            Label.LUNG_LESION,
            Label.EDEMA,
            Label.CONSOLIDATION,
            Label.PNEUMONIA,
            Label.ATELECTASIS,
        }
    ),
    NormalRegion.PLEURAL_EFFUSION: frozenset({Label.PLEURAL_EFFUSION}),
    NormalRegion.PNEUMOTHORAX: frozenset({Label.PNEUMOTHORAX}),
    NormalRegion.HEART: frozenset({Label.CARDIOMEGALY}),
    NormalRegion.MEDIASTINUM: frozenset({Label.ENLARGED_CARDIOMEDIASTINUM}),
    NormalRegion.BONES: frozenset({Label.FRACTURE}),
    NormalRegion.STUDY: frozenset(Label) - {Label.NO_FINDING, Label.SUPPORT_DEVICES},
}

# Normal statements the labeller has no label for ("the lungs are clear" mentions nothing).
_REGION_PATTERNS: Final[dict[NormalRegion, re.Pattern[str]]] = {
    NormalRegion.LUNGS: re.compile(
        r"\blungs?\s+(?:(?:are|is|appear|remain)\s+)?(?:\w+\s+){0,3}?clear\b|\bclear\s+lungs\b",
        re.IGNORECASE,
    ),
    NormalRegion.BONES: re.compile(
        r"\b(?:bones?|osseous\s+structures?|bony\s+(?:structures?|thorax)|skeletal\s+structures?)"
        r"\s+(?:(?:are|is|appear)\s+)?(?:\w+\s+)?(?:intact|unremarkable|normal)\b|"
        r"\bno\s+acute\s+(?:bony|osseous|skeletal)\s+(?:abnormalit\w+|findings?|injur\w+|lesions?)",
        re.IGNORECASE,
    ),
    NormalRegion.STUDY: re.compile(
        r"^(?:there\s+is\s+)?no\s+(?:evidence\s+of\s+)?(?:acute\s+)?(?:cardiopulmonary|"
        r"cardiothoracic|intrathoracic)\s+(?:abnormalit\w+|disease|process|findings?)",
        re.IGNORECASE,
    ),
}

# Sentences that state nothing reusable about an image: communication, dictation artefacts,
# references to other text ("as described", "this finding"), and run-ons whose full stops were
# lost ("Clear lungs There are no...": case-sensitive part).
_JUNK = re.compile(
    r"(?i:xxxx|\b(?:dr|called|discussed|notified|paged|telephone|phone|reviewed\s+with|"
    r"recommend\w*|follow[- ]?up|correlat\w*|see\s+above|dictat\w*|findings?\s*:|"
    r"as\s+(?:described|above|noted\s+above|mentioned)|^(?:this|these|it|they|which)|"
    r"th(?:is|ese)\s+(?:\w+\s+)?(?:findings?|appearances?|opacit\w+|fractures?|lesions?|"
    r"abnormalit\w+|densit\w+|nodules?))\b)|"
    r"[a-z,]\s+(?:There|The|No|Lungs?|Heart|Cardiac|Mediastin\w*|Bony|Osseous)\b|[?!]|\.\."
)
_LIST_NUMBER = re.compile(r"^\s*(?:\d+|[a-z])[.)]\s*")
# Words that compare with a prior study: such a sentence fits only a study with priors.
_PRIOR = re.compile(
    r"\b(?:again|unchanged|stable|stably|interval|previous\w*|prior|compared|comparison|since|"
    r"persist\w*|improv\w*|worse\w*|resolv\w*|redemonstrat\w*|new|newly|no\s+longer|"
    r"(?:increase|decrease)d?\s+in\s+size|remains?|residual|change[sd]?)\b",
    re.IGNORECASE,
)
_SIDES: Final[tuple[tuple[Laterality, re.Pattern[str]], ...]] = (
    (Laterality.LEFT, re.compile(r"\bleft\b", re.IGNORECASE)),
    (Laterality.RIGHT, re.compile(r"\bright\b", re.IGNORECASE)),
    (
        Laterality.BILATERAL,
        re.compile(r"\b(?:bilateral(?:ly)?|both|bibasilar|bibasal)\b", re.IGNORECASE),
    ),
)
_SECTION_HEADER = re.compile(r"(?i)\b(findings|impression|recommendations?)\s*:\s*")
MIN_WORDS, MAX_WORDS = 2, 40


@dataclass(frozen=True)
class BankSentence:
    """One distinct sentence of the bank with what the labeller and the classifier said."""

    text: str
    source: str  # first occurrence, "iu-xray:CXR1234" or "<prefix>:<report id>"
    section: str  # "findings" | "impression"
    count: int  # occurrences in the sources (how conventional the wording is)
    mentions: tuple[tuple[Label | None, Mention], ...]  # per mention; None: outside the 14
    regions: tuple[NormalRegion, ...]  # normal regions stated; () unless all mentions negative
    sides: tuple[Laterality, ...]  # sides named, in Laterality order
    refers_to_prior: bool  # compares with an earlier study ("unchanged", "again seen")

    def mention_of(self, label: Label) -> Mention | None:
        """The strongest mention of ``label`` (positive > uncertain > negative), or None."""
        found = {m for lab, m in self.mentions if lab is label}
        for mention in (Mention.POSITIVE, Mention.UNCERTAIN, Mention.NEGATIVE):
            if mention in found:
                return mention
        return None

    @property
    def asserted(self) -> frozenset[Label | None]:
        """Labels (None: other abnormalities) mentioned positive or uncertain."""
        return frozenset(lab for lab, m in self.mentions if m is not Mention.NEGATIVE)

    @property
    def denied(self) -> frozenset[Label]:
        """Labels this sentence mentions only negatively."""
        return frozenset(
            lab for lab, m in self.mentions if lab is not None and m is Mention.NEGATIVE
        ) - {lab for lab in self.asserted if lab is not None}


def normalise(text: str) -> str:
    """The deduplication key: case-folded, single-spaced, no final full stop."""
    return " ".join(text.split()).casefold().rstrip(" .")


def classify(text: str, source: str, section: str, count: int = 1) -> BankSentence:
    """Label and classify one sentence (no embedding)."""
    mentions = tuple((m.label, m.mention) for m in label_sentences(text))
    regions: list[NormalRegion] = []
    if all(m is Mention.NEGATIVE for _, m in mentions):
        denied = {lab for lab, _ in mentions}
        for region, labels in REGION_LABELS.items():
            pattern = _REGION_PATTERNS.get(region)
            stated = bool(pattern and pattern.search(text))
            # STUDY only by its own wording: "no effusion" alone is not a normal study.
            if region is not NormalRegion.STUDY and denied & labels:
                stated = True
            if stated:
                regions.append(region)
    return BankSentence(
        text=text,
        source=source,
        section=section,
        count=count,
        mentions=mentions,
        regions=tuple(regions),
        sides=tuple(side for side, pattern in _SIDES if pattern.search(text)),
        refers_to_prior=bool(_PRIOR.search(text)),
    )


def report_sentences(text: str) -> list[tuple[str, str]]:
    """``(section, sentence)`` pairs worth banking from one report text.

    A text with ``FINDINGS:``/``IMPRESSION:`` headers is split by them (a recommendations
    section is dropped: recommendations come from rules); a text without headers counts as
    findings. Sentences with anonymiser placeholders (``XXXX``), communication ("discussed
    with Dr."), recommendations, list numbers only, fewer than 2 or more than 40 words are
    skipped; list numbering ("1. ") is stripped.
    """
    parts: list[tuple[str, str]] = []
    headers = list(_SECTION_HEADER.finditer(text))
    if not headers:
        parts.append(("findings", text))
    for index, header in enumerate(headers):
        stop = headers[index + 1].start() if index + 1 < len(headers) else len(text)
        name = header.group(1).lower()
        if not name.startswith("recommendation"):
            parts.append((name, text[header.end() : stop]))
    kept: list[tuple[str, str]] = []
    for section, part in parts:
        for start, end in split_sentences(part):
            sentence = _LIST_NUMBER.sub("", " ".join(part[start:end].split())).strip(" .")
            words = len(sentence.split())
            if MIN_WORDS <= words <= MAX_WORDS and not _JUNK.search(sentence):
                kept.append((section, sentence[0].upper() + sentence[1:] + "."))
    return kept


@dataclass(frozen=True)
class SentenceBank:
    """Distinct sentences with their unit-length embeddings, row ``i`` for sentence ``i``."""

    sentences: tuple[BankSentence, ...]
    embeddings: NDArray[np.float32]  # (len(sentences), encoder dimension), float32, rows norm 1
    encoder_name: str

    def __post_init__(self) -> None:
        if self.embeddings.shape[0] != len(self.sentences):
            raise ValueError(
                f"{self.embeddings.shape[0]} embeddings for {len(self.sentences)} sentences"
            )

    def __len__(self) -> int:
        return len(self.sentences)

    @property
    def content_hash(self) -> str:
        """Hash of the sentences (texts, sources, sections), the format and the encoder."""
        return _content_hash(
            [(s.section, s.source, s.text) for s in self.sentences], self.encoder_name
        )

    @classmethod
    def from_texts(
        cls,
        texts: Iterable[tuple[str, str]],
        source_prefix: str,
        *,
        encoder: SentenceEncoder,
        cache_dir: Path | None = None,
    ) -> SentenceBank:
        """A bank from ``(report id, report text)`` pairs; sources read ``<prefix>:<id>``.

        With ``cache_dir``, a bank saved there for the same sentences and encoder is loaded
        instead of embedding again, and a newly built bank is saved there.
        """
        order: list[tuple[str, str, str]] = []  # (section, source, text) of first occurrences
        counts: dict[str, int] = {}
        for report_id, text in texts:
            for section, sentence in report_sentences(text):
                key = normalise(sentence)
                if key not in counts:
                    order.append((section, f"{source_prefix}:{report_id}", sentence))
                counts[key] = counts.get(key, 0) + 1
        name = f"sentence-bank-{_content_hash(order, encoder.name)[:16]}"
        if cache_dir is not None and (cache_dir / f"{name}.json").is_file():
            return cls.load(cache_dir / name)
        sentences = tuple(
            classify(text, source, section, counts[normalise(text)])
            for section, source, text in order
        )
        bank = cls(sentences, encoder.encode([s.text for s in sentences]), encoder.name)
        if cache_dir is not None:
            bank.save(cache_dir / name)
        return bank

    @classmethod
    def from_iu_reports(
        cls,
        reports: Sequence[IUReport],
        *,
        encoder: SentenceEncoder,
        cache_dir: Path | None = None,
    ) -> SentenceBank:
        """A bank of the IU X-ray reports' findings and impressions (sources ``iu-xray:<id>``)."""
        texts = (
            (r.report_id, f"FINDINGS: {r.findings}\nIMPRESSION: {r.impression}") for r in reports
        )
        return cls.from_texts(texts, IU_SOURCE_PREFIX, encoder=encoder, cache_dir=cache_dir)

    def merged(self, other: SentenceBank) -> SentenceBank:
        """This bank plus ``other``'s sentences not already in it (counts added up).

        Raises:
            ValueError: the banks were embedded by different encoders.
        """
        if other.encoder_name != self.encoder_name:
            raise ValueError(f"cannot merge {other.encoder_name} into {self.encoder_name}")
        index = {normalise(s.text): i for i, s in enumerate(self.sentences)}
        sentences = list(self.sentences)
        extra: list[int] = []
        for j, sentence in enumerate(other.sentences):
            i = index.get(normalise(sentence.text))
            if i is None:
                extra.append(j)
                sentences.append(sentence)
            else:
                old = sentences[i]
                sentences[i] = classify(
                    old.text, old.source, old.section, old.count + sentence.count
                )
        embeddings = np.concatenate([self.embeddings, other.embeddings[extra]], axis=0)
        return SentenceBank(tuple(sentences), embeddings, self.encoder_name)

    def save(self, stem: Path) -> None:
        """Write ``stem.npz`` (embeddings) and ``stem.json`` (everything else), json last, so a
        reader that finds the json finds a complete pair."""
        stem.parent.mkdir(parents=True, exist_ok=True)
        np.savez(stem.with_suffix(".npz"), embeddings=self.embeddings)
        payload = {
            "format": BANK_FORMAT,
            "encoder": self.encoder_name,
            "content_hash": self.content_hash,
            "sentences": [
                {
                    "text": s.text,
                    "source": s.source,
                    "section": s.section,
                    "count": s.count,
                    "mentions": [[lab.value if lab else None, m.value] for lab, m in s.mentions],
                    "regions": [r.value for r in s.regions],
                    "sides": [side.value for side in s.sides],
                    "prior": s.refers_to_prior,
                }
                for s in self.sentences
            ],
        }
        tmp = stem.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(payload, ensure_ascii=False), encoding="utf-8")
        tmp.replace(stem.with_suffix(".json"))

    @classmethod
    def load(cls, stem: Path) -> SentenceBank:
        """Read a bank written by :meth:`save`.

        Raises:
            FileNotFoundError: either file is missing.
            ValueError: the files are of another format or do not match each other.
        """
        payload = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        if payload.get("format") != BANK_FORMAT:
            raise ValueError(f"{stem}: bank format {payload.get('format')}, want {BANK_FORMAT}")
        with np.load(stem.with_suffix(".npz")) as arrays:
            embeddings = np.asarray(arrays["embeddings"], dtype=np.float32)
        sentences = tuple(
            BankSentence(
                text=row["text"],
                source=row["source"],
                section=row["section"],
                count=int(row["count"]),
                mentions=tuple(
                    (Label(lab) if lab is not None else None, Mention(m))
                    for lab, m in row["mentions"]
                ),
                regions=tuple(NormalRegion(r) for r in row["regions"]),
                sides=tuple(Laterality(side) for side in row["sides"]),
                refers_to_prior=bool(row["prior"]),
            )
            for row in payload["sentences"]
        )
        bank = cls(sentences, embeddings, str(payload["encoder"]))
        if bank.content_hash != payload["content_hash"]:
            raise ValueError(f"{stem}: content hash does not match its sentences")
        return bank


@lru_cache(maxsize=2)
def load_iu_bank(cache_dir: Path, encoder: SentenceEncoder | None = None) -> SentenceBank:
    """The process's IU X-ray bank: read from ``cache_dir``, or built (minutes) and saved there.

    Cached per process: call it from a worker's start-up or first task. ``encoder`` defaults
    to the process's MiniLM encoder.

    Raises:
        IUReportsUnavailable: torchxrayvision (the report archive) is not installed.
        ModelNotLoaded: no encoder given and MiniLM cannot be loaded.
    """
    chosen = encoder if encoder is not None else load_minilm()
    return SentenceBank.from_iu_reports(load_iu_reports(), encoder=chosen, cache_dir=cache_dir)


def _content_hash(rows: Iterable[tuple[str, str, str]], encoder_name: str) -> str:
    """SHA-256 of the bank format, the encoder's name and the (section, source, text) rows."""
    digest = hashlib.sha256(f"{BANK_FORMAT}|{encoder_name}|".encode())
    for row in rows:
        digest.update("\x1f".join(row).encode() + b"\x1e")
    return digest.hexdigest()
