"""inference.fusion: contributions add up as documented, any subset of inputs works, the
model file round-trips, and fusion beats image-only where the truth depends on context."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from inference.fusion.fit import fit_fusion
from inference.fusion.inputs import FusionInputs, InputGroup
from inference.fusion.metrics import auc, brier, expected_calibration_error
from inference.fusion.model import FusionModel, FusionModelError
from inference.labels import Label
from tests.inference.fusion.cases import infection_cases, measurement

LABELS = (Label.PNEUMONIA, Label.CONSOLIDATION)


@pytest.fixture(scope="module")
def fitted() -> FusionModel:
    return fit_fusion(infection_cases(600, seed=1), LABELS)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


@pytest.mark.parametrize(
    "inputs",
    [
        FusionInputs(),
        FusionInputs(age_years=71, sex="M", smoking="current", history_text="fever and cough"),
        FusionInputs(measurements={"crp": measurement("crp", 180.0)}),
        FusionInputs(
            age_years=30,
            measurements={
                "crp": measurement("crp", 2.0),
                "temperature": measurement("temperature", 36.8),
            },
            prior_probabilities={Label.PNEUMONIA: 0.7},
        ),
    ],
)
def test_contributions_sum_to_the_adjusted_logit_minus_the_intercept(
    fitted: FusionModel, inputs: FusionInputs
) -> None:
    image = {Label.CONSOLIDATION: 0.8, Label.PNEUMONIA: 0.2, Label.LUNG_OPACITY: 0.8}

    result = fitted.fuse(Label.PNEUMONIA, image, inputs)

    assert set(result.contributions) == {g.value for g in InputGroup}
    total = sum(result.contributions.values())
    assert total == pytest.approx(_logit(result.adjusted_probability) - result.intercept, abs=1e-9)
    assert sum(result.feature_contributions.values()) == pytest.approx(total, abs=1e-9)
    assert result.image_probability == 0.2  # its own label's image-only probability


def test_absent_inputs_are_named_and_add_nothing(fitted: FusionModel) -> None:
    image = {Label.CONSOLIDATION: 0.8, Label.PNEUMONIA: 0.2, Label.LUNG_OPACITY: 0.8}

    result = fitted.fuse(Label.PNEUMONIA, image, FusionInputs())

    assert "log_crp" in result.absent and "temperature_cel" in result.absent
    assert result.contributions["labs_vitals"] == 0.0
    assert result.contributions["priors"] == 0.0
    assert result.contributions["image"] != 0.0


def test_the_same_image_with_different_labs_gets_a_different_probability(
    fitted: FusionModel,
) -> None:
    image = {Label.CONSOLIDATION: 0.8, Label.PNEUMONIA: 0.1, Label.LUNG_OPACITY: 0.8}
    febrile = FusionInputs(
        measurements={
            "crp": measurement("crp", 160.0),
            "temperature": measurement("temperature", 38.9),
        }
    )
    afebrile = FusionInputs(
        measurements={
            "crp": measurement("crp", 3.0),
            "temperature": measurement("temperature", 36.7),
        }
    )

    high = fitted.fuse(Label.PNEUMONIA, image, febrile)
    low = fitted.fuse(Label.PNEUMONIA, image, afebrile)

    assert high.image_probability == low.image_probability
    assert high.adjusted_probability > 0.7 > 0.3 > low.adjusted_probability
    assert high.contributions["labs_vitals"] > 0 > low.contributions["labs_vitals"]


def test_fusion_beats_image_only_on_held_out_cases_where_context_matters(
    fitted: FusionModel,
) -> None:
    baseline = fit_fusion(
        infection_cases(600, seed=1), LABELS, groups=frozenset({InputGroup.IMAGE})
    )
    held_out = infection_cases(400, seed=2)
    y = np.array([c.targets[Label.PNEUMONIA] for c in held_out], dtype=float)

    def scores(model: FusionModel) -> np.ndarray:
        return np.array(
            [
                model.fuse(Label.PNEUMONIA, c.image_probabilities, c.inputs).adjusted_probability
                for c in held_out
            ]
        )

    fused, image_only = scores(fitted), scores(baseline)
    assert auc(fused, y) > auc(image_only, y) + 0.1
    assert brier(fused, y) < brier(image_only, y)
    assert expected_calibration_error(fused, y) < 0.1


def test_a_label_without_a_fitted_model_passes_the_image_probability_through(
    fitted: FusionModel,
) -> None:
    result = fitted.fuse(Label.FRACTURE, {Label.FRACTURE: 0.64}, FusionInputs())

    assert not result.fitted
    assert result.adjusted_probability == pytest.approx(0.64)
    assert result.contributions["image"] == pytest.approx(_logit(0.64))


def test_the_model_file_round_trips_and_refuses_another_feature_table(
    fitted: FusionModel, tmp_path: Path
) -> None:
    path = tmp_path / "fusion.json"
    fitted.save(path)
    loaded = FusionModel.load(path)
    image = {Label.CONSOLIDATION: 0.7, Label.PNEUMONIA: 0.2, Label.LUNG_OPACITY: 0.7}
    inputs = FusionInputs(measurements={"crp": measurement("crp", 90.0)})
    assert loaded.fuse(Label.PNEUMONIA, image, inputs) == fitted.fuse(
        Label.PNEUMONIA, image, inputs
    )

    data = fitted.to_dict() | {"features": ["something", "else"]}
    with pytest.raises(FusionModelError, match="another feature table"):
        FusionModel.from_dict(data)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(FusionModelError, match="unreadable"):
        FusionModel.load(tmp_path / "broken.json")


def test_the_metrics_give_known_values() -> None:
    y = np.array([0, 0, 1, 1], dtype=float)
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), y) == pytest.approx(0.75)
    assert auc(np.array([0.5, 0.5, 0.5, 0.5]), y) == pytest.approx(0.5)
    assert brier(np.array([0.0, 0.0, 1.0, 1.0]), y) == 0.0
    assert expected_calibration_error(np.array([0.5, 0.5, 0.5, 0.5]), y) == pytest.approx(0.0)
    assert expected_calibration_error(np.array([0.9, 0.9, 0.9, 0.9]), y) == pytest.approx(0.4)
