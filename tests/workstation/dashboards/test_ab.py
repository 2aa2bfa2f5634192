"""A/B: randomised, recorded assignment; per-arm figures; tests reproduced by hand;
Bonferroni and the p < 0.01 promotion rule; promotion audited."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pytest

from inference.model_registry.models import ModelStatus, ModelVersion
from inference.model_registry.services import model_version_register
from tests.workstation.dashboards.history import DAY, Case, build, register_versions
from workstation.audit.models import AuditEvent
from workstation.dashboards.ab import (
    AbError,
    ab_assign,
    ab_comparison,
    ab_experiment_start,
    ab_promote,
)
from workstation.dashboards.models import AbAssignment, AbExperiment, Arm, ExperimentStatus
from workstation.studies.models import DraftJob, Patient, Study

pytestmark = pytest.mark.django_db

CRITICAL = ["Pneumothorax", "Fracture", "Lung Lesion", "Pleural Effusion"]


def _experiment(administrator: Any, fraction: float = 0.1) -> AbExperiment:
    register_versions("m:1", "m:2")
    return ab_experiment_start(
        user=administrator,
        name="m2-trial",
        control_version="m:1",
        candidate_version="m:2",
        fraction=fraction,
    )


def _arm_cases(
    experiment: AbExperiment, arm: Arm, distances: list[float], rejected: int, signer: Any
) -> None:
    version = experiment.candidate_version if arm is Arm.CANDIDATE else experiment.control_version
    for i, distance in enumerate(distances):
        study = build(
            Case(
                received=DAY + dt.timedelta(hours=i),
                draft_after_s=60,
                model_version=version,
                rejected_by=signer if i < rejected else None,
                signed_by=signer,
                sign_after_draft_s=600 * (i + 1),
                signed_text=("Edited.", ""),
                char_distance=distance,
            )
        )
        AbAssignment.objects.create(
            experiment=experiment, study=study, arm=arm, model_version=version, draw=0.5
        )


def test_it_assigns_by_the_recorded_draw_and_only_once(administrator: Any) -> None:
    _experiment(administrator)
    patient = Patient.objects.create(patient_id="AB")
    first, second = (
        Study.objects.create(study_uid=f"1.2.3.{i}", patient=patient, last_instance_at=DAY)
        for i in range(2)
    )
    assignment = ab_assign(study=first, draw=0.05)
    assert assignment is not None
    assert (assignment.arm, assignment.model_version, assignment.draw) == ("candidate", "m:2", 0.05)
    again = ab_assign(study=first, draw=0.9)
    assert again is not None and again.pk == assignment.pk and again.arm == "candidate"
    control = ab_assign(study=second, draw=0.5)
    assert control is not None and (control.arm, control.model_version) == ("control", "m:1")


def test_it_sends_the_default_share_of_new_drafting_jobs_to_the_candidate(
    administrator: Any, settings: Any
) -> None:
    experiment = _experiment(administrator, fraction=settings.AB_DEFAULT_FRACTION)
    patient = Patient.objects.create(patient_id="AB")
    studies = Study.objects.bulk_create(
        Study(study_uid=f"1.2.4.{i}", patient=patient, last_instance_at=DAY) for i in range(300)
    )
    for study in studies:
        DraftJob.objects.create(study=study, model_version="m:1")
    arms = list(AbAssignment.objects.filter(experiment=experiment).values_list("arm", flat=True))
    assert len(arms) == 300  # every new job's study was randomised and recorded
    share = arms.count("candidate") / 300
    sigma = math.sqrt(0.1 * 0.9 / 300)
    assert abs(share - 0.1) < 3.5 * sigma


def test_it_assigns_nothing_without_a_running_experiment(db: None) -> None:
    patient = Patient.objects.create(patient_id="AB")
    study = Study.objects.create(study_uid="1.2.5", patient=patient, last_instance_at=DAY)
    assert ab_assign(study=study) is None


def test_it_reproduces_hand_computed_p_values(administrator: Any, reader: Any) -> None:
    experiment = _experiment(administrator)
    _arm_cases(experiment, Arm.CONTROL, [0.5, 0.6, 0.7, 0.8, 0.9, 0.95], 3, reader)
    _arm_cases(experiment, Arm.CANDIDATE, [0.1, 0.2, 0.3, 0.4, 0.55, 0.65], 0, reader)
    comparison = ab_comparison(experiment=experiment, critical_labels=CRITICAL)
    control, candidate = comparison.arms
    assert (control.assigned, control.drafted_by_arm, control.drafts) == (6, 6, 6)
    assert (control.rejected, candidate.rejected) == (3, 0)
    tests = {t.metric: t for t in comparison.tests}

    # Mann-Whitney: the candidate beats 3 of 36 pairs, U = 3; mean 18, sd sqrt(6*6*13/12);
    # with the continuity correction z = (15 - 0.5) / sqrt(39); two-sided p = erfc(z / sqrt 2).
    edit = tests["mean_char_distance"]
    assert edit.result.statistic == 3.0
    assert edit.result.p_value == pytest.approx(math.erfc((14.5 / math.sqrt(39)) / math.sqrt(2)))

    # Two proportions 3/6 vs 0/6: pooled 0.25, se = sqrt(0.25 * 0.75 * (2/6)) = 0.25, z = -2.
    rejection = tests["rejection_rate"]
    assert rejection.result.statistic == pytest.approx(-2.0)
    assert rejection.result.p_value == pytest.approx(math.erfc(2 / math.sqrt(2)))

    # No critical finding in either arm: that test is not made, so Bonferroni multiplies by 3.
    assert tests["critical_sensitivity"].result.p_value is None
    assert rejection.adjusted_p == pytest.approx(3 * math.erfc(2 / math.sqrt(2)))
    assert not comparison.promotable  # 0.137 and 0.061 are not below 0.01


def test_a_promotion_needs_the_rule_and_is_audited(administrator: Any, reader: Any) -> None:
    experiment = _experiment(administrator)
    _arm_cases(experiment, Arm.CONTROL, [0.5 + i / 100 for i in range(30)], 0, reader)
    _arm_cases(experiment, Arm.CANDIDATE, [0.1 + i / 100 for i in range(30)], 0, reader)
    comparison = ab_comparison(experiment=experiment, critical_labels=CRITICAL)
    assert comparison.promotable
    with pytest.raises(AbError, match="administrator"):
        ab_promote(experiment=experiment, user=reader, critical_labels=CRITICAL)
    promoted = ab_promote(experiment=experiment, user=administrator, critical_labels=CRITICAL)
    assert promoted.status == ExperimentStatus.PROMOTED
    assert promoted.promoted_by == administrator
    event = AuditEvent.objects.filter(object_type="ab_experiment", detail__startswith="promoted")
    assert event.get().username == "administrator"


def test_it_refuses_to_promote_without_a_significant_gain(administrator: Any, reader: Any) -> None:
    experiment = _experiment(administrator)
    _arm_cases(experiment, Arm.CONTROL, [0.3, 0.4, 0.5], 0, reader)
    _arm_cases(experiment, Arm.CANDIDATE, [0.3, 0.4, 0.5], 0, reader)
    with pytest.raises(AbError, match="promotion rule"):
        ab_promote(experiment=experiment, user=administrator, critical_labels=CRITICAL)
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.RUNNING


def test_it_refuses_an_experiment_whose_candidate_is_not_registered(administrator: Any) -> None:
    register_versions("m:1")
    with pytest.raises(AbError, match="not in the model registry"):
        ab_experiment_start(
            user=administrator,
            name="unregistered",
            control_version="m:1",
            candidate_version="m:9",
            fraction=0.1,
        )
    assert not AbExperiment.objects.exists()


def _significant_experiment(administrator: Any, reader: Any, candidate_dir: Any) -> AbExperiment:
    model_version_register(model_dir=candidate_dir, name="m", version="2")
    experiment = _experiment(administrator)
    _arm_cases(experiment, Arm.CONTROL, [0.5 + i / 100 for i in range(30)], 0, reader)
    _arm_cases(experiment, Arm.CANDIDATE, [0.1 + i / 100 for i in range(30)], 0, reader)
    return experiment


def test_promotion_serves_the_candidate_from_the_registry_when_drafts_are_served_by_name(
    administrator: Any, reader: Any, settings: Any, encoder_dir: Any
) -> None:
    settings.DRAFT_MODEL_NAME = "m"
    experiment = _significant_experiment(administrator, reader, encoder_dir)
    ModelVersion.objects.filter(name="m", version="2").update(
        metrics={"critical_sensitivity": 0.99, "hallucination_rate": 0.01}
    )
    ab_promote(experiment=experiment, user=administrator, critical_labels=CRITICAL)
    assert ModelVersion.objects.get(name="m", version="2").status == ModelStatus.PROMOTED
    event = AuditEvent.objects.get(object_type="ab_experiment", detail__startswith="promoted")
    assert "now serving drafts" in event.detail


def test_a_registry_refusal_stops_the_promotion_with_its_reason(
    administrator: Any, reader: Any, settings: Any, encoder_dir: Any
) -> None:
    settings.DRAFT_MODEL_NAME = "m"
    experiment = _significant_experiment(administrator, reader, encoder_dir)
    with pytest.raises(AbError, match=r"refused the promotion: .*no evaluation recorded"):
        ab_promote(experiment=experiment, user=administrator, critical_labels=CRITICAL)
    experiment.refresh_from_db()
    assert experiment.status == ExperimentStatus.RUNNING
    assert ModelVersion.objects.get(name="m", version="2").status != ModelStatus.PROMOTED
