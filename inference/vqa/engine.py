"""Answering a parsed question from one study's facts (and its prior's, for change).

Each intent has one small function that turns :class:`~inference.vqa.state.LabelState` values
into a sentence and its evidence. "Most urgent" ranks findings as the worklist's triage
weighs them (:mod:`inference.triage`: critical findings by ``W_CRITICAL``, others by
``W_FINDINGS``, times confidence). Imports no Django.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from inference.labels import Label
from inference.triage import W_CRITICAL, W_FINDINGS
from inference.vqa.question import ParsedQuestion, parse_question
from inference.vqa.state import SEVERITY_RANK, LabelState, StudyReading
from inference.vqa.types import Answer, Evidence, Intent, Presence, Source, StudyFacts

CANNOT = "I cannot answer that from this study"
DEMONSTRATION_NOTICE = "AI evidence from a demonstration model, not for clinical use."
_DOUBLE_STOP = re.compile(r'([.!?])"\.')  # 'states: "No effusion.".' -> one stop
_BOX_CHANGE = 1.2  # a box at least 20% larger (or smaller) in area counts as a size change


def _name(label: Label) -> str:
    return label.value.lower()


def _cannot(reason: str) -> tuple[str, bool, str, list[Evidence]]:
    return f"{CANNOT}: {reason}.", False, reason, []


def _source_words(facts: StudyFacts) -> str:
    return "The signed report" if facts.is_signed else "The AI draft"


def _detail(state: LabelState) -> str:
    parts = []
    if state.finding is not None:
        parts.append(f"AI confidence {state.finding.confidence:.2f}")
    if state.side:
        parts.append(state.side)
    if state.severity:
        parts.append(state.severity)
    return f" ({', '.join(parts)})" if parts else ""


def _quote(state: LabelState) -> str:
    return f': "{state.sentence}"' if state.sentence else ""


def _presence(facts: StudyFacts, state: LabelState) -> str:
    name = _name(state.label)
    if state.presence is Presence.PRESENT:
        if facts.is_signed:
            how = _quote(state) or (f" ({state.note})" if state.note else "")
            return f"Yes. The signed report describes {name}{how}{_detail(state)}."
        return f"Yes. The AI draft finds {name}{_detail(state)}; no radiologist has signed it yet."
    if state.presence is Presence.UNCERTAIN:
        return f"Possibly. {_source_words(facts)} is uncertain about {name}{_quote(state)}."
    if state.sentence:
        return f"No. The signed report states{_quote(state)}."
    return f"No {name} is reported: {state.note}."


def _location(facts: StudyFacts, state: LabelState) -> str:
    name = _name(state.label)
    if state.presence is Presence.ABSENT:
        why = state.note or "the signed report denies it"
        return f"No {name} is reported ({why}), so it has no location."
    where = f"on the {state.side} side" if state.side and state.side != "bilateral" else ""
    where = "on both sides" if state.side == "bilateral" else where
    box = state.finding.box if state.finding is not None else None
    region = " The region is drawn on the image." if box else ""
    if not where:
        return f"{_source_words(facts)} reports {name} but does not say which side.{region}"
    return f"The {name} is {where}{_quote(state)}.{region}"


def _severity(facts: StudyFacts, state: LabelState) -> str:
    name = _name(state.label)
    if state.presence is Presence.ABSENT:
        return f"No {name} is reported ({state.note or 'the signed report denies it'})."
    if not state.severity:
        return f"{_source_words(facts)} reports {name} but does not grade its size or severity."
    return f"The {name} is {state.severity}{_quote(state)}{_detail(state)}."


def _area(state: LabelState) -> int | None:
    box = state.finding.box if state.finding is not None else None
    if not box:
        return None
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def _size_change(now: LabelState, before: LabelState) -> str:
    rank_now, rank_before = SEVERITY_RANK.get(now.severity), SEVERITY_RANK.get(before.severity)
    if rank_now and rank_before and rank_now != rank_before:
        word = "larger/worse" if rank_now > rank_before else "smaller/better"
        return f"{word}: {now.severity} now, {before.severity} on the prior"
    area_now, area_before = _area(now), _area(before)
    if area_now and area_before:
        ratio = area_now / area_before
        if ratio >= _BOX_CHANGE:
            return f"larger: its AI region is {ratio:.1f}x the prior's area"
        if ratio <= 1 / _BOX_CHANGE:
            return f"smaller: its AI region is {ratio:.1f}x the prior's area"
        return f"about the same size (AI region {ratio:.1f}x the prior's area)"
    return "no measurable size change"


def _change_one(now: LabelState, before: LabelState, when: str) -> str:
    name = _name(now.label)
    present_now = now.presence is not Presence.ABSENT
    present_before = before.presence is not Presence.ABSENT
    if present_now and not present_before:
        return f"{name.capitalize()} is new since the prior of {when}."
    if present_before and not present_now:
        return f"{name.capitalize()} has resolved since the prior of {when}."
    if not present_now:
        return f"No {name} now or on the prior of {when}."
    return f"{name.capitalize()} persists since the prior of {when}; {_size_change(now, before)}."


def _evidence(
    states: Iterable[LabelState], facts: StudyFacts, *, is_prior: bool = False
) -> list[Evidence]:
    return [e for s in states for e in s.evidence(facts, is_prior=is_prior)]


def _by_label(
    parsed: ParsedQuestion, reading: StudyReading
) -> tuple[list[LabelState], list[Evidence]]:
    states = [reading.state(label) for label in parsed.labels]
    return states, _evidence(states, reading.facts)


def _change(
    parsed: ParsedQuestion, reading: StudyReading, prior: StudyReading | None
) -> tuple[str, bool, str, list[Evidence]]:
    if prior is None:
        return _cannot("there is no earlier study of this patient with a report to compare")
    when = prior.facts.study_date or "an unknown date"
    if parsed.labels:
        labels = list(parsed.labels)
    else:
        labels = [s.label for s in reading.abnormal()]
        labels += [s.label for s in prior.abnormal() if s.label not in labels]
    if not labels:
        return (
            f"No abnormality now or on the prior of {when}: nothing has changed.",
            True,
            "",
            [],
        )
    now = [reading.state(label) for label in labels]
    before = [prior.state(label) for label in labels]
    text = " ".join(_change_one(n, b, when) for n, b in zip(now, before, strict=True))
    evidence = _evidence(now, reading.facts) + _evidence(before, prior.facts, is_prior=True)
    return text, True, "", evidence


def _most_urgent(
    reading: StudyReading, critical: frozenset[Label]
) -> tuple[str, bool, str, list[Evidence]]:
    def score(state: LabelState) -> float:
        return (W_CRITICAL if state.label in critical else W_FINDINGS) * state.weight

    ranked = sorted(reading.abnormal(), key=score, reverse=True)
    if not ranked:
        source = _source_words(reading.facts)
        return f"{source} reports no abnormal finding: nothing is urgent.", True, "", []
    top = ranked[0]
    kind = "a critical finding" if top.label in critical else "not a critical finding"
    text = f"The most urgent finding is {_name(top.label)}{_detail(top)}, {kind}."
    if len(ranked) > 1:
        text += " Then: " + ", ".join(_name(s.label) for s in ranked[1:]) + "."
    return text, True, "", _evidence(ranked, reading.facts)


def _normal(reading: StudyReading) -> tuple[str, bool, str, list[Evidence]]:
    abnormal = reading.abnormal()
    other = reading.other_abnormality()
    source = _source_words(reading.facts)
    if not abnormal and not other:
        return f"Yes. {source} describes no abnormality.", True, "", []
    named = [_name(s.label) for s in abnormal] + ([other.lower()] if other else [])
    evidence = _evidence(abnormal, reading.facts)
    return f"No. {source} describes {', '.join(named)}.", True, "", evidence


def _answer_text(
    parsed: ParsedQuestion,
    reading: StudyReading,
    prior: StudyReading | None,
    critical: frozenset[Label],
) -> tuple[str, bool, str, list[Evidence]]:
    """``(text, answerable, reason, evidence)`` for one parsed question."""
    facts = reading.facts
    if parsed.intent is Intent.UNANSWERABLE:
        if parsed.outside:
            return _cannot(
                f"{parsed.outside[0]} is not one of the 14 findings this system reads",
            )
        return _cannot(
            "the question names none of the findings this system reads (for example "
            "pneumothorax, pleural effusion, nodule, consolidation, cardiomegaly, fracture) "
            "and asks nothing it can check (presence, location, size, change, urgency, normal)",
        )
    if not facts.is_signed and not facts.has_draft:
        return _cannot("the study has no AI draft and no signed report yet")
    if parsed.intent is Intent.CHANGE:
        return _change(parsed, reading, prior)
    if parsed.intent is Intent.MOST_URGENT:
        return _most_urgent(reading, critical)
    if parsed.intent is Intent.NORMAL:
        return _normal(reading)
    states, evidence = _by_label(parsed, reading)
    say = {Intent.PRESENCE: _presence, Intent.LOCATION: _location, Intent.SEVERITY: _severity}
    text = " ".join(say[parsed.intent](facts, state) for state in states)
    return text, True, "", evidence


def _notice(facts: StudyFacts, evidence: list[Evidence], answered_by: str) -> str:
    uses_ai = answered_by == "vlm" or any(e.source is Source.AI_DRAFT for e in evidence)
    if not facts.is_signed:
        uses_ai = True
    if uses_ai and facts.demonstration:
        return DEMONSTRATION_NOTICE
    return "AI generated." if uses_ai and answered_by == "vlm" else ""


def answer_question(
    question: str,
    facts: StudyFacts,
    *,
    prior: StudyFacts | None = None,
    critical: frozenset[Label],
    vlm_answer: str | None = None,
    vlm_model: str = "",
) -> Answer:
    """Answer ``question`` about the study ``facts`` describe.

    Args:
        prior: the patient's previous study, for change questions (``None``: there is none).
        critical: the labels this deployment treats as critical (settings.CRITICAL_LABELS).
        vlm_answer: an image-text model's own answer (the ``hf`` backend); when given it is
            the answer's text, and the structured evidence is attached to it.
        vlm_model: that model's name and version, shown with the answer.

    Raises:
        ValueError: the question is blank or too long (see :func:`parse_question`).
    """
    parsed = parse_question(question)
    reading = StudyReading(facts)
    prior_reading = StudyReading(prior) if prior is not None else None
    text, answerable, reason, evidence = _answer_text(parsed, reading, prior_reading, critical)
    text = _DOUBLE_STOP.sub(r'\1"', text)
    answered_by = "structured"
    model = f"{facts.model_name} {facts.model_version}".strip()
    if vlm_answer is not None and vlm_answer.strip():
        text, answerable, reason = vlm_answer.strip(), True, ""
        answered_by, model = "vlm", vlm_model
    used_prior = prior is not None and any(e.is_prior for e in evidence)
    return Answer(
        question=parsed.text,
        intent=parsed.intent,
        labels=parsed.labels,
        text=text,
        answerable=answerable,
        evidence=tuple(evidence),
        reason=reason,
        prior_study_uid=prior.study_uid if used_prior and prior else "",
        prior_study_date=prior.study_date if used_prior and prior else "",
        answered_by=answered_by,
        model=model,
        notice=_notice(facts, evidence, answered_by),
    )
