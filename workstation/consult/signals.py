"""Signing raises critical-result notifications: a ``post_save`` receiver on ``Report``.

``reports.services.report_sign`` saves the report (signer, time, signed version) inside its
transaction; this receiver runs in the same transaction, so a notification exists exactly when
the signature does. Addenda save the report again: a critical finding an addendum adds is
notified then (``critical_results_record`` is idempotent per recipient). A clinician given
access to a study after its critical report was signed is notified when the grant is saved.
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from reports.models import Report
from workstation.studies.models import StudyAccess


def _report_saved(sender: type[Report], instance: Report, raw: bool = False, **kwargs: Any) -> None:
    if raw or not instance.is_signed:
        return
    from workstation.consult.services import critical_results_record

    critical_results_record(report=instance)


def _access_granted(
    sender: type[StudyAccess],
    instance: StudyAccess,
    created: bool,
    raw: bool = False,
    **kwargs: Any,
) -> None:
    if raw or not created:
        return
    report = Report.objects.filter(study_id=instance.study_id).first()
    if report is not None and report.is_signed:
        from workstation.consult.services import critical_results_record

        critical_results_record(report=report)


def connect() -> None:
    post_save.connect(_report_saved, sender=Report, dispatch_uid="consult_critical_results")
    post_save.connect(
        _access_granted, sender=StudyAccess, dispatch_uid="consult_critical_results_on_grant"
    )
