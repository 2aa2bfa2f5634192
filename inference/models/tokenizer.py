"""The report tokenizer: byte-level BPE (``tokenizers``) trained on report texts.

Saved as ``tokenizer.json`` inside the model directory, so a model never needs a hub. Also
holds the one report text layout the model reads and writes (``FINDINGS: ... IMPRESSION: ...``).
Imports no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

PAD, UNK, SEP, EOS = "[PAD]", "[UNK]", "[SEP]", "[EOS]"
SPECIAL_TOKENS = (PAD, UNK, SEP, EOS)

_SECTION = re.compile(r"\b(FINDINGS|IMPRESSION|RECOMMENDATIONS?)\s*:", re.IGNORECASE)


def format_report(findings: str, impression: str = "", recommendations: str = "") -> str:
    """The text layout the model is trained on and generates."""
    parts = [f"FINDINGS: {findings.strip()}"] if findings.strip() else []
    if impression.strip():
        parts.append(f"IMPRESSION: {impression.strip()}")
    if recommendations.strip():
        parts.append(f"RECOMMENDATIONS: {recommendations.strip()}")
    return " ".join(parts)


def split_report(text: str) -> dict[str, str]:
    """Sections of :func:`format_report`'s layout: keys "findings", "impression",
    "recommendations" (only those present). Text before any header counts as findings."""
    sections: dict[str, str] = {}
    matches = list(_SECTION.finditer(text))
    head = text[: matches[0].start()] if matches else text
    if head.strip():
        sections["findings"] = head.strip()
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        name = match.group(1).lower()
        name = "recommendations" if name.startswith("recommendation") else name
        body = text[match.end() : end].strip()
        if body:
            sections[name] = f"{sections[name]} {body}".strip() if name in sections else body
    return sections


class ReportTokenizer:
    """A thin wrapper of :class:`tokenizers.Tokenizer` with the model's special tokens."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        missing = [t for t in SPECIAL_TOKENS if tokenizer.token_to_id(t) is None]
        if missing:
            tokenizer.add_special_tokens(missing)
        self.tokenizer = tokenizer

    @classmethod
    def train(cls, texts: Iterable[str], vocab_size: int) -> ReportTokenizer:
        """Train byte-level BPE on ``texts`` (the vocabulary may end up smaller)."""
        tokenizer = Tokenizer(models.BPE(unk_token=UNK))
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            special_tokens=list(SPECIAL_TOKENS),
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        tokenizer.train_from_iterator(texts, trainer=trainer)
        return cls(tokenizer)

    @classmethod
    def load(cls, path: Path) -> ReportTokenizer:
        return cls(Tokenizer.from_file(str(path)))

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))

    @property
    def vocab_size(self) -> int:
        return int(self.tokenizer.get_vocab_size())

    def _id(self, token: str) -> int:
        value = self.tokenizer.token_to_id(token)
        assert value is not None  # added in __init__
        return int(value)

    @property
    def pad_id(self) -> int:
        return self._id(PAD)

    @property
    def sep_id(self) -> int:
        return self._id(SEP)

    @property
    def eos_id(self) -> int:
        return self._id(EOS)

    def encode(self, text: str, max_tokens: int | None = None) -> list[int]:
        ids = list(self.tokenizer.encode(text, add_special_tokens=False).ids)
        return ids[:max_tokens] if max_tokens is not None else ids

    def decode(self, ids: Iterable[int]) -> str:
        return str(self.tokenizer.decode(list(ids), skip_special_tokens=True)).strip()


def iu_report_corpus() -> list[str]:
    """IU X-ray report texts in the model's layout plus their indications; ``[]`` when
    torchxrayvision (which ships them) is not installed."""
    from inference.iu_reports import IUReportsUnavailable, iter_iu_reports

    try:
        reports = list(iter_iu_reports())
    except IUReportsUnavailable:
        return []
    texts = [format_report(r.findings, r.impression) for r in reports]
    return [t for t in texts if t] + [r.indication for r in reports if r.indication]
