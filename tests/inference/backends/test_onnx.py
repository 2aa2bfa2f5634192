"""inference.backends.onnx: drafting with a parity-checked ONNX export of the tiny model."""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from inference.backends.base import Backend, ModelNotLoaded, NoFrontalImage, StudyInput
from inference.backends.onnx import OnnxBackend, Precision
from inference.backends.reference import ReferenceBackend
from inference.labels import Label
from inference.models.checkpoint import ModelCard
from inference.onnx_export import (
    DETECTOR_FILES,
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    MANIFEST,
    ParityItem,
    export_onnx,
)
from inference.preprocess import normalise
from inference.registry import BACKENDS
from inference.types import ClinicalContext, PreparedImage
from tests.inference.models.synthetic import LESION, chest, dataset, trained_tiny, with_disc

TOLERANCE = {"fp32": FP32_TOLERANCE, "int8": INT8_TOLERANCE}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("reference-tiny")
    card = ModelCard(name="reference-tiny", version="0.1-test", training_data="synthetic discs")
    trained_tiny().model.save_pretrained(directory, card)
    return directory


@pytest.fixture(scope="module")
def exported(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    items = [ParityItem(item.pixels, item.prompt) for item, _ in dataset(16, seed=7)]
    return export_onnx(source, tmp_path_factory.mktemp("onnx"), parity_items=items).out_dir


@pytest.fixture(scope="module")
def reference(source: Path) -> ReferenceBackend:
    return ReferenceBackend(source, "cpu", num_beams=1, max_new_tokens=8)


def _backend(directory: Path, precision: Precision = "fp32") -> OnnxBackend:
    return OnnxBackend(directory, "cpu", precision=precision, num_beams=1, max_new_tokens=8)


def _lesion_study(seed: int) -> StudyInput:
    rng = np.random.default_rng(seed)
    image, _ = with_disc(chest(rng), rng)
    prepared = PreparedImage(image, (64, 64), 1.0, (0, 0), sop_uid=f"1.2.{seed}")
    context = ClinicalContext(age_years=60, sex="F", indication="cough")
    return StudyInput(study_uid=f"1.2.3.{seed}", images=(prepared,), context=context)


def test_it_implements_the_backend_protocol_and_is_registered(exported: Path) -> None:
    backend = _backend(exported, "int8")
    assert isinstance(backend, Backend)
    assert backend.name == "onnx" and backend.version == "0.1-test+onnx-int8"
    assert backend.image_size == 64
    module, _, cls = BACKENDS["onnx"].import_path.partition(":")
    assert getattr(importlib.import_module(module), cls) is OnnxBackend


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_its_probabilities_match_the_reference_backend(
    exported: Path, reference: ReferenceBackend, precision: Precision
) -> None:
    backend = _backend(exported, precision)
    studies = [_lesion_study(seed) for seed in (400, 401, 402)]
    pixels = np.stack([normalise(s.images[0].pixels) for s in studies])[:, None]
    prompts = [s.context.as_prompt() for s in studies]
    onnx_p, _ = backend.detect(np.ascontiguousarray(pixels), prompts)
    model = reference.model
    import torch

    with torch.no_grad():
        context = model.context_embedding([model.encode_prompt(p) for p in prompts])
        torch_p = model.probabilities(model.detect(model.encode(torch.from_numpy(pixels)), context))
    assert np.abs(onnx_p - torch_p.numpy()).max() <= TOLERANCE[precision]

    drafts, expected = backend.predict_batch(studies), reference.predict_batch(studies)
    for draft, want in zip(drafts, expected, strict=True):
        assert [f.label for f in draft.findings] == [f.label for f in want.findings]
        for got, ref in zip(draft.findings, want.findings, strict=True):
            assert abs(got.confidence - ref.confidence) <= TOLERANCE[precision]
            assert got.context_contribution is not None and ref.context_contribution is not None
            assert (
                abs(got.context_contribution - ref.context_contribution) <= 2 * TOLERANCE[precision]
            )


def test_it_drafts_a_lesion_study_with_evidence(exported: Path) -> None:
    draft = _backend(exported).predict(_lesion_study(201))
    print(f"\nonnx fp32 tiny predict stages (ms): {draft.timings_ms}")
    assert draft.model_name == "reference-tiny" and draft.model_version == "0.1-test+onnx-fp32"
    assert set(draft.timings_ms) == {"preprocess", "detect", "explain", "generate"}
    lesion = next(f for f in draft.findings if f.label is LESION)
    assert 0.5 <= lesion.confidence <= 1.0 and lesion.is_critical
    assert lesion.box is not None and lesion.heatmap is not None
    assert lesion.heatmap.shape == (64, 64)
    assert all(f.label is not Label.NO_FINDING for f in draft.findings)


def test_it_detects_without_generating_text_like_the_reference_backend(
    exported: Path, reference: ReferenceBackend
) -> None:
    studies = [_lesion_study(500), _lesion_study(501)]
    got, want = _backend(exported).detect_batch(studies), reference.detect_batch(studies)
    for (findings, timings), (expected, _) in zip(got, want, strict=True):
        assert [f.label for f in findings] == [f.label for f in expected]
        assert set(timings) == {"preprocess", "detect", "explain"}


def test_it_raises_no_frontal_image_for_a_study_without_images(exported: Path) -> None:
    with pytest.raises(NoFrontalImage):
        _backend(exported).predict(StudyInput("1.2.10", ()))


def test_it_refuses_a_model_directory_without_a_manifest(source: Path) -> None:
    with pytest.raises(ModelNotLoaded, match=r"missing onnx_manifest\.json"):
        _backend(source)


def test_it_refuses_a_precision_whose_parity_did_not_pass(exported: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(exported, tmp_path / "copy"))
    manifest = json.loads((copy / MANIFEST).read_text())
    manifest["parity"]["int8"]["passed"] = False
    (copy / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ModelNotLoaded, match=r"int8 did not pass parity"):
        _backend(copy, "int8")
    assert _backend(copy, "fp32").version.endswith("+onnx-fp32")


def test_it_refuses_a_detector_changed_after_its_parity_check(
    exported: Path, tmp_path: Path
) -> None:
    copy = Path(shutil.copytree(exported, tmp_path / "copy"))
    with (copy / DETECTOR_FILES["fp32"]).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelNotLoaded, match=r"changed since its parity check"):
        _backend(copy)


@pytest.mark.django_db
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_serving_path_serves_the_precision_onnx_precision_names(
    exported: Path, settings: object, precision: str
) -> None:
    from inference import services

    settings.DRAFT_BACKEND = "onnx"  # type: ignore[attr-defined]
    settings.DRAFT_MODEL_DIR = exported  # type: ignore[attr-defined]
    settings.ONNX_PRECISION = precision  # type: ignore[attr-defined]
    services._backend.cache_clear()
    try:
        backend = services.backend_get()
        assert isinstance(backend, OnnxBackend) and backend.precision == precision
        assert backend.version == f"0.1-test+onnx-{precision}"
    finally:
        services._backend.cache_clear()
