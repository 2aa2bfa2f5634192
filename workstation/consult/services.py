"""Services that write: a question and its answer, critical results at signing, and their
acknowledgement. Each write and its audit row commit together."""

from __future__ import annotations

import dataclasses
import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from inference.labeller import label_report
from inference.labels import Label, Mention
from inference.vqa import Answer, answer_question
from reports.models import AiDraft, Decision, Report, ReportVersion
from workstation.audit.models import AuditAction
from workstation.audit.services import audit_record
from workstation.consult import selectors
from workstation.consult.models import CriticalResult, Question
from workstation.studies.models import Study, StudyAccess

logger = logging.getLogger(__name__)


class AlreadyAcknowledged(Exception):
    """The critical result was acknowledged before; the message says by whom and when."""


def critical_labels() -> frozenset[Label]:
    return frozenset(Label(name) for name in settings.CRITICAL_LABELS)


def _vlm_answer(study: Study, question: str) -> tuple[str | None, str, str]:
    """``(answer, model, problem)`` from the ``hf`` image-text model, when it is configured.

    Loading or running the model can fail (no weights, no frontal image): the structured
    answer is then given alone and ``problem`` says why the model did not answer.
    """
    if settings.DRAFT_BACKEND != "hf":
        return None, "", ""
    from inference.backends.base import ModelNotLoaded, NoFrontalImage
    from inference.services import DraftFailed, backend_get, study_input_load

    try:
        backend = backend_get()
        answer = getattr(backend, "answer", None)
        if answer is None:
            return None, "", f"the {backend.name} backend cannot answer questions"
        study_input, _ = study_input_load(
            study, image_size=int(getattr(backend, "image_size", 512))
        )
        text = str(answer(study_input, question))
    except (ModelNotLoaded, NoFrontalImage, DraftFailed) as exc:
        logger.warning("VQA model unavailable for %s: %s", study.study_uid, exc)
        return None, "", f"the image-text model did not answer ({exc})"
    model = f"{getattr(backend, 'model_name', backend.name)} {backend.version}".strip()
    if not text.strip():
        return None, "", f"the image-text model {model} gave no answer"
    return text, model, ""


def question_ask(*, study: Study, user: User, question: str) -> Question:
    """Answer ``question`` about ``study`` for ``user`` and store both, with an audit row.

    The caller has checked that ``user`` may consult the study (selectors.study_for_consult).
    Raises ``ValueError`` for a blank or overlong question.
    """
    facts = selectors.study_facts(study)
    prior_study = selectors.prior_study(study=study, user=user)
    prior = selectors.study_facts(prior_study) if prior_study is not None else None
    vlm_text, vlm_model, problem = _vlm_answer(study, question)
    answer: Answer = answer_question(
        question,
        facts,
        prior=prior,
        critical=critical_labels(),
        vlm_answer=vlm_text,
        vlm_model=vlm_model,
    )
    if problem:
        answer = dataclasses.replace(
            answer, notice=" ".join(filter(None, [answer.notice, problem]))
        )
    with transaction.atomic():
        stored = Question.objects.create(
            study=study,
            asked_by=user,
            text=answer.question,
            intent=answer.intent.value,
            answer=answer.text,
            answerable=answer.answerable,
            answered_by=answer.answered_by,
            model=answer.model[:160],
            payload=answer.as_dict(),
        )
        audit_record(
            action=AuditAction.VIEW,
            user=user,
            object_type="question",
            object_id=str(stored.pk),
            study_uid=study.study_uid,
            detail=f"Q: {answer.question} | A: {answer.text}",
        )
    return stored


def _critical_in_report(report: Report, signed: ReportVersion) -> list[Label]:
    """Critical labels the signed report stands behind: stated (or hedged) in the signed text
    and its addenda, or found critical by the AI and neither rejected by the radiologist nor
    denied by the signed text."""
    critical = critical_labels()
    text = "\n\n".join(
        [signed.text]
        + [
            v.addendum
            for v in report.versions.filter(number__gt=signed.number).order_by("number")
            if v.addendum
        ]
    )
    said = label_report(text)
    found = {label for label, m in said.items() if m is not Mention.NEGATIVE} & critical
    decisions = {row.label: row.decision for row in signed.decisions.all()}
    detail = AiDraft.objects.filter(version__report=report).first()
    for item in detail.findings if detail else []:
        try:
            label = Label(item.get("label", ""))
        except ValueError:
            continue
        rejected = decisions.get(label.value) == Decision.REJECTED
        if item.get("is_critical") and not rejected and said.get(label) is not Mention.NEGATIVE:
            found.add(label)
    return [label for label in Label if label in found]


def critical_results_record(*, report: Report) -> list[CriticalResult]:
    """Create the critical-result notifications of a signed report (idempotent).

    One per clinician holding ``StudyAccess`` to the study, or one without a recipient when
    nobody does. Runs inside the signing transaction (``signals``), so a sign that rolls back
    leaves no notification. Returns the rows created now.
    """
    if not report.is_signed or report.signed_number is None:
        return []
    signed = report.versions.get(number=report.signed_number)
    labels = _critical_in_report(report, signed)
    if not labels:
        return []
    recipients: list[int | None] = list(
        StudyAccess.objects.filter(study_id=report.study_id).values_list("user_id", flat=True)
    )
    created = []
    for recipient_id in recipients or [None]:
        row, made = CriticalResult.objects.get_or_create(
            report=report,
            recipient_id=recipient_id,
            defaults={
                "study_id": report.study_id,
                "labels": [label.value for label in labels],
                "signed_version": signed.number,
            },
        )
        if made:
            created.append(row)
    return created


def critical_result_acknowledge(*, result: CriticalResult, user: User) -> CriticalResult:
    """Record that ``user`` (the recipient) has seen the critical result; audited.

    Raises ``AlreadyAcknowledged`` when it was acknowledged before.
    """
    with transaction.atomic():
        locked = (
            CriticalResult.objects.select_for_update(of=("self",))
            .select_related("study", "acknowledged_by")
            .get(pk=result.pk)
        )
        if locked.acknowledged_at is not None and locked.acknowledged_by is not None:
            when = locked.acknowledged_at.strftime("%Y-%m-%d %H:%M UTC")
            who = locked.acknowledged_by.get_username()
            raise AlreadyAcknowledged(f"already acknowledged by {who} at {when}")
        locked.acknowledged_at = timezone.now()
        locked.acknowledged_by = user
        locked.save(update_fields=["acknowledged_at", "acknowledged_by"])
        audit_record(
            action=AuditAction.EDIT,
            user=user,
            object_type="critical_result",
            object_id=str(locked.pk),
            study_uid=locked.study.study_uid,
            report_id=locked.report_id,
            detail=f"acknowledged critical result: {', '.join(locked.labels)}",
        )
    return locked
