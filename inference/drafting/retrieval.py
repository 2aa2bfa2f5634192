"""Grounded drafting by retrieval: every sentence of the draft is a real report sentence or a rule.

:class:`RetrievalDrafter` composes a draft from detected findings and the clinical context:

* **Findings.** Per finding, the bank sentence that best states it. Candidates are sentences the
  labeller reads as POSITIVE for that label, with no hedged mention, no other abnormality, no
  positive label outside the findings and no denial of a finding (so no sentence can
  contradict the findings); sentences comparing with a prior study are used only when the
  context lists priors. They are ranked first by side (:func:`side_tier`: same side, then no
  side or the other single side, which is then swapped; a side that cannot be made right
  comes last), then by cosine similarity of their MiniLM embedding to the query "<side>
  <severity> <label>. <indication>", adjusted by :data:`SEVERITY_MATCH` /
  :data:`SEVERITY_MISMATCH`, :data:`EXTRA_LABEL_PENALTY` and :data:`SECTION_MATCH`; wording
  that dates a finding ("old", "healed": :data:`AGE_WORDS`) drops :data:`AGE_TIERS` side
  tiers, as the head cannot date a finding. Ties go to the more common, then the
  alphabetically first sentence, so the output is deterministic. Then normal statements
  for the regions with no finding, the most conventional (most frequent) wording first.
* **Impression.** Critical findings, then the others by confidence, at most
  :data:`IMPRESSION_MAX` unless more are critical; chosen as in the findings but queried with
  the embedding of the findings sentence of the same finding (so the impression restates it),
  preferring impression wording and never repeating a sentence. With no finding: the bank's
  most frequent "no acute cardiopulmonary abnormality" sentence.
* **Recommendations.** :mod:`inference.drafting.recommendations`.

A finding with no usable bank sentence gets a rule sentence (``rule:finding-fallback``), and
support devices always do (:data:`GENERIC_SENTENCES`).
"No Finding" among the findings is ignored (no findings means a normal draft). Imports no
Django.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from inference.drafting.encoder import SentenceEncoder, load_minilm
from inference.drafting.recommendations import recommendations
from inference.drafting.wording import (
    GENERIC_SENTENCES,
    LABEL_WORDS,
    NORMAL_REGIONS,
    POSITION,
    SEVERITY_WORDS,
    query_text,
    side_tier,
    substitute_side,
    template_sections,
    topics,
)
from inference.labels import Label, Mention
from inference.sentence_bank import (
    REGION_LABELS,
    BankSentence,
    NormalRegion,
    SentenceBank,
    normalise,
)
from inference.types import ClinicalContext, Draft, Finding, Sentence

SEVERITY_MATCH = 0.05  # added to the cosine when the sentence uses the finding's severity
SEVERITY_MISMATCH = -0.10  # ... when it uses another severity's words
EXTRA_LABEL_PENALTY = -0.05  # per further label the sentence asserts
# The head cannot tell an old finding from a new one: wording that dates it is a last resort.
AGE_WORDS = re.compile(r"\b(?:old|healed|healing|chronic|remote|prior|previous)\b", re.I)
AGE_TIERS = 2  # so an undated sentence naming the other side (swapped) ties with it
SECTION_MATCH = 0.05  # a sentence from the same section (impression wording for the impression)
IMPRESSION_MAX = 3
IMPRESSION_MIN_SIMILARITY = 0.6  # cosine to the findings sentence; below it, repeat that one


def _importance(finding: Finding) -> tuple[bool, float, int]:
    return (not finding.is_critical, -finding.confidence, POSITION.get(finding.label, 99))


class RetrievalDrafter:
    """Composes drafts from one bank; build once per process (queries are cached)."""

    def __init__(self, bank: SentenceBank, encoder: SentenceEncoder | None = None) -> None:
        """Raises ``ModelNotLoaded`` when no encoder is given and MiniLM cannot be loaded, and
        ``ValueError`` when the encoder is not the one the bank was embedded with."""
        self.bank = bank
        self.encoder = encoder if encoder is not None else load_minilm()
        if self.encoder.name != bank.encoder_name:
            raise ValueError(f"bank embedded by {bank.encoder_name}, encoder {self.encoder.name}")
        self._queries: dict[str, NDArray[np.float32]] = {}
        self._by_label: dict[Label, list[int]] = {}
        self._topics = [frozenset(topics(s.text)) for s in bank.sentences]
        # Normal statements per region, the most conventional (frequent) wording first.
        self._by_region: dict[NormalRegion, list[int]] = {}
        for i, sentence in enumerate(bank.sentences):
            for region in sentence.regions:
                self._by_region.setdefault(region, []).append(i)
        for region, indices in self._by_region.items():
            home = "impression" if region is NormalRegion.STUDY else "findings"
            indices.sort(
                key=lambda i: (
                    -bank.sentences[i].count,
                    bank.sentences[i].section != home,
                    bank.sentences[i].text,
                )
            )
        for i, sentence in enumerate(bank.sentences):
            if any(m is Mention.UNCERTAIN for _, m in sentence.mentions):
                continue
            if None in sentence.asserted:
                continue
            for label in sentence.asserted:
                if label is not None and sentence.mention_of(label) is Mention.POSITIVE:
                    self._by_label.setdefault(label, []).append(i)

    def _embed_all(self, queries: Sequence[str]) -> None:
        """Embed the queries not cached yet in one encoder call (one forward pass)."""
        missing = sorted({q for q in queries if q not in self._queries})
        if not missing:
            return
        if len(self._queries) + len(missing) > 4096:  # bounded: indications are free text
            self._queries.clear()
        for query, vector in zip(missing, self.encoder.encode(missing), strict=True):
            self._queries[query] = vector

    def _embed(self, query: str) -> NDArray[np.float32]:
        self._embed_all([query])
        return self._queries[query]

    def _usable(self, s: BankSentence, present: frozenset[Label], priors: bool) -> bool:
        return (
            (priors or not s.refers_to_prior)
            and {lab for lab in s.asserted if lab is not None} <= present
            and not s.denied & present
        )

    def _best(
        self,
        finding: Finding,
        context: ClinicalContext,
        present: frozenset[Label],
        used: set[str],
        section: str,
        query: NDArray[np.float32],
    ) -> int | None:
        candidates = [
            i
            for i in self._by_label.get(finding.label, [])
            if normalise(substitute_side(self.bank.sentences[i].text, finding.laterality))
            not in used
            and self._usable(self.bank.sentences[i], present, bool(context.prior_studies))
        ]
        if not candidates:
            return None
        similarity = self.bank.embeddings[candidates] @ query
        ranked = []
        for i, cosine in zip(candidates, similarity.tolist(), strict=True):
            s = self.bank.sentences[i]
            score = cosine + EXTRA_LABEL_PENALTY * (len(s.asserted) - 1)
            if s.section == section:
                score += SECTION_MATCH
            if finding.severity is not None:
                for level, pattern in SEVERITY_WORDS.items():
                    if pattern.search(s.text):
                        score += SEVERITY_MATCH if level is finding.severity else SEVERITY_MISMATCH
            tier = side_tier(finding.laterality, s.sides)
            if AGE_WORDS.search(s.text):
                tier += AGE_TIERS
            # Rounded: a query embedded alone or in a batch may differ in the last float bits.
            ranked.append((tier, -round(score, 5), -s.count, s.text, i))
        return min(ranked)[-1]

    def _finding_sentence(
        self,
        finding: Finding,
        context: ClinicalContext,
        present: frozenset[Label],
        used: set[str],
        section: str,
        query: NDArray[np.float32],
    ) -> tuple[Sentence, int | None]:
        """The sentence stating ``finding`` and its bank row (None for a rule sentence)."""
        if finding.label in GENERIC_SENTENCES:
            name = finding.label.value.lower().replace(" ", "-")
            text = GENERIC_SENTENCES[finding.label]
            return Sentence(text, section, finding.label, f"rule:{name}"), None
        index = self._best(finding, context, present, used, section, query)
        best = self.bank.sentences[index] if index is not None else None
        if best is not None and side_tier(finding.laterality, best.sides) < 3:
            text = substitute_side(best.text, finding.laterality)
            used.add(normalise(text))
            return Sentence(text, section, finding.label, best.source), index
        side = finding.laterality.value
        words = (
            f"{side} {LABEL_WORDS[finding.label]}".strip() if side else LABEL_WORDS[finding.label]
        )
        text = words[0].upper() + words[1:] + "."
        return Sentence(text, section, finding.label, "rule:finding-fallback"), None

    def _impression_sentence(
        self,
        finding: Finding,
        context: ClinicalContext,
        present: frozenset[Label],
        used: set[str],
        echo: NDArray[np.float32],
        stated: Sentence,
    ) -> Sentence:
        """A sentence restating ``stated`` (the findings sentence of ``finding``); ``stated``
        itself when no bank sentence is at least :data:`IMPRESSION_MIN_SIMILARITY` alike."""
        restated = Sentence(stated.text, "impression", stated.label, stated.source)
        index = self._best(finding, context, present, used, "impression", echo)
        if index is None or float(self.bank.embeddings[index] @ echo) < IMPRESSION_MIN_SIMILARITY:
            return restated
        sentence, chosen = self._finding_sentence(
            finding, context, present, used, "impression", echo
        )
        return sentence if chosen is not None else restated

    def _normals(self, present: frozenset[Label], priors: bool) -> list[tuple[int, Sentence]]:
        free = {r for r in NORMAL_REGIONS if not REGION_LABELS[r] & present}
        covered: set[NormalRegion] = set()
        chosen: list[tuple[int, Sentence]] = []
        for region in NORMAL_REGIONS:
            if region not in free or region in covered:
                continue
            for i in self._by_region.get(region, []):
                s = self.bank.sentences[i]
                if (
                    set(s.regions) <= free
                    and self._topics[i] <= free
                    and self._usable(s, present, priors)
                ):
                    covered |= set(s.regions)
                    position = min(POSITION[lab] for lab in REGION_LABELS[region])
                    chosen.append((position, Sentence(s.text, "findings", None, s.source)))
                    break
        return chosen

    def compose(
        self, findings: Sequence[Finding], context: ClinicalContext, template: str = ""
    ) -> tuple[Sentence, ...]:
        """The draft's sentences: findings section, then impression, then recommendations.

        Args:
            findings: the detected findings (already thresholded); "No Finding" is ignored.
            context: the clinical context; its indication joins each query, its priors allow
                sentences that compare, its age/history choose recommendation wording.
            template: a report template; the sections it names ("findings", "impression",
                "recommendations", case-insensitive) are produced in its order. A template
                naming none of them (or "") gives all three.
        """
        real = sorted(
            (f for f in findings if f.label is not Label.NO_FINDING),
            key=lambda f: (POSITION.get(f.label, 99), -f.confidence),
        )
        present = frozenset(f.label for f in real)
        priors = bool(context.prior_studies)
        self._embed_all([query_text(f, context) for f in real])
        used: set[str] = set()
        body: list[tuple[int, Sentence]] = []
        # The impression restates what the findings section said: its query is the embedding
        # of the findings sentence chosen for the same finding, when that came from the bank.
        echoes: dict[int, NDArray[np.float32]] = {}
        body_of: dict[int, Sentence] = {}
        for n, finding in enumerate(real):
            query = self._embed(query_text(finding, context))
            sentence, index = self._finding_sentence(
                finding, context, present, used, "findings", query
            )
            echoes[n] = self.bank.embeddings[index] if index is not None else query
            body_of[n] = sentence
            body.append((POSITION.get(finding.label, 99), sentence))
        body += self._normals(present, priors)
        body.sort(key=lambda row: row[0])  # stable: ties keep finding-then-normal order
        parts: dict[str, list[Sentence]] = {"findings": [s for _, s in body]}
        order = sorted(range(len(real)), key=lambda n: _importance(real[n]))
        abnormal = [n for n in order if real[n].label is not Label.SUPPORT_DEVICES]
        if abnormal:
            critical = sum(real[n].is_critical for n in abnormal)
            parts["impression"] = [
                self._impression_sentence(real[n], context, present, used, echoes[n], body_of[n])
                for n in abnormal[: max(IMPRESSION_MAX, critical)]
            ]
        else:
            parts["impression"] = self._normal_study(present, priors)
        parts["recommendations"] = [
            Sentence(rule.text, "recommendations", rule.label, f"rule:{rule.name}")
            for rule in recommendations([real[n] for n in order], context)
        ]
        return tuple(s for name in template_sections(template) for s in parts[name])

    def _normal_study(self, present: frozenset[Label], priors: bool) -> list[Sentence]:
        for i in self._by_region.get(NormalRegion.STUDY, []):
            s = self.bank.sentences[i]
            if self._usable(s, present, priors):
                return [Sentence(s.text, "impression", None, s.source)]
        text = "No acute cardiopulmonary abnormality."
        return [Sentence(text, "impression", None, "rule:normal-study")]


def draft_from_findings(
    findings: Sequence[Finding],
    context: ClinicalContext,
    *,
    bank: SentenceBank,
    model_name: str,
    model_version: str,
    template: str = "",
    drafter: RetrievalDrafter | None = None,
) -> Draft:
    """A :class:`Draft` of ``findings`` composed from ``bank`` (see :class:`RetrievalDrafter`).

    Pass the process's ``drafter`` to reuse its query cache; otherwise one is built for
    ``bank`` with the process's MiniLM encoder. ``timings_ms["compose"]`` is the wall time.
    """
    started = time.perf_counter()
    composer = drafter if drafter is not None and drafter.bank is bank else RetrievalDrafter(bank)
    sentences = composer.compose(findings, context, template)
    return Draft(
        findings=tuple(findings),
        sentences=sentences,
        model_name=model_name,
        model_version=model_version,
        timings_ms={"compose": (time.perf_counter() - started) * 1000.0},
    )
