"""inference.backends.hf: drafting and VQA with a tiny, randomly initialised LLaVA checkpoint.

The checkpoint is built from config and saved like a real one (processor + model through
``save_pretrained``), so loading goes through the same Auto classes a MedGemma or LLaVA-Rad
directory would. Its text is gibberish: the tests check structure, not content.
"""

from __future__ import annotations

import importlib
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPImageProcessorPil,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
)

from inference.backends.base import Backend, ModelNotLoaded, NoFrontalImage, StudyInput
from inference.backends.hf import HFBackend, checkpoint_identity, findings_from_text, to_rgb
from inference.labels import Label
from inference.registry import BACKENDS
from inference.types import ClinicalContext, PreparedImage

SECTIONS = {"findings", "impression", "recommendations"}
# LLaVA-1.5's conversation layout, small enough to read.
CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'].upper() }}: "
    "{% for c in message['content'] %}{% if c['type'] == 'image' %}<image>\n"
    "{% else %}{{ c['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT:{% endif %}"
)
CORPUS = [
    "FINDINGS: The lungs are clear. There is no pleural effusion or pneumothorax.",
    "IMPRESSION: Small right pleural effusion. Possible pneumonia. Heart size is normal.",
]


def save_tiny_llava(directory: Path, *, chat_template: str | None = CHAT_TEMPLATE) -> Path:
    """A randomly initialised LLaVA (CLIP ViT 32 px, patch 8 -> 16 image tokens; 2-layer
    Llama, hidden 32) with a 300-token byte-level BPE tokenizer, saved to ``directory``."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300,
            special_tokens=["<pad>", "<unk>", "<s>", "</s>", "<image>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        extra_special_tokens={"image_token": "<image>"},
    )
    image_token = fast.convert_tokens_to_ids("<image>")
    assert isinstance(image_token, int)
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=fast,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token, dropped by the "default" strategy
        chat_template=chat_template,
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            image_size=32,
            patch_size=8,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            projection_dim=32,
        ),
        text_config=LlamaConfig(
            vocab_size=len(fast),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=512,
            bos_token_id=fast.bos_token_id,
            eos_token_id=fast.eos_token_id,
            pad_token_id=fast.pad_token_id,
        ),
        image_token_index=image_token,
        image_seq_length=16,
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def offline() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    started = time.perf_counter()
    directory = save_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))
    print(f"tiny LLaVA built and saved in {(time.perf_counter() - started) * 1000:.0f} ms")
    return directory


@pytest.fixture(scope="module")
def backend(checkpoint: Path) -> HFBackend:
    started = time.perf_counter()
    loaded = HFBackend(checkpoint, "cpu", max_new_tokens=8)
    print(f"tiny LLaVA loaded in {(time.perf_counter() - started) * 1000:.0f} ms")
    return loaded


def _study(seed: int, *, images: int = 1) -> StudyInput:
    rng = np.random.default_rng(seed)
    prepared = tuple(
        PreparedImage(rng.random((48, 48), dtype=np.float32), (48, 48), 1.0, (0, 0))
        for _ in range(images)
    )
    context = ClinicalContext(age_years=71, sex="M", indication="dyspnoea after fall")
    return StudyInput(study_uid=f"1.2.826.{seed}", images=prepared, context=context)


def test_it_implements_the_backend_protocol(backend: HFBackend, checkpoint: Path) -> None:
    assert isinstance(backend, Backend)
    assert backend.name == "hf"
    assert backend.model_name == checkpoint.name
    assert len(backend.version) == 12 and int(backend.version, 16) >= 0
    assert backend.image_size == 32


def test_it_is_registered_under_hf() -> None:
    module_name, class_name = BACKENDS["hf"].import_path.split(":")
    assert getattr(importlib.import_module(module_name), class_name) is HFBackend


def test_it_drafts_a_study_labelled_with_the_checkpoint(backend: HFBackend) -> None:
    started = time.perf_counter()
    draft = backend.predict(_study(1))
    print(f"tiny LLaVA predict on CPU: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert draft.model_name == backend.model_name and draft.model_version == backend.version
    assert set(draft.timings_ms) == {"preprocess", "generate", "label"}
    assert all(s.section in SECTIONS and s.source == "generated" for s in draft.sentences)
    for finding in draft.findings:
        assert finding.confidence in {1.0, 0.5}
        assert finding.box is None and finding.heatmap is None and finding.severity is None


def test_it_drafts_a_batch_in_one_call(backend: HFBackend) -> None:
    drafts = backend.predict_batch([_study(2), _study(3, images=2)])
    assert len(drafts) == 2
    assert all(d.model_version == backend.version for d in drafts)
    assert backend.predict_batch([]) == []


def test_it_puts_the_clinical_context_and_the_image_in_the_prompt(backend: HFBackend) -> None:
    prompt = backend.prompt(_study(4))
    assert prompt.startswith("USER: <image>\n") and prompt.endswith("ASSISTANT:")
    assert "age 71, male, indication: dyspnoea after fall" in prompt
    assert "FINDINGS" in prompt and "IMPRESSION" in prompt


def test_it_uses_a_plain_prompt_without_a_chat_template(tmp_path: Path, offline: None) -> None:
    plain = HFBackend(
        save_tiny_llava(tmp_path, chat_template=None),
        "cpu",
        prompt_template="Report. {context}",
        max_new_tokens=4,
        num_beams=2,
    )
    context = "age 71, male, indication: dyspnoea after fall"
    assert plain.prompt(_study(5)) == f"<image>\nReport. {context}\n"
    assert plain.predict(_study(5)).model_name == tmp_path.name


def test_it_answers_a_question_about_the_image(backend: HFBackend) -> None:
    answer = backend.answer(_study(6), "Is there a pneumothorax?")
    assert isinstance(answer, str)
    with pytest.raises(ValueError, match="blank"):
        backend.answer(_study(6), "  ")


def test_it_raises_no_frontal_image_for_a_study_without_images(backend: HFBackend) -> None:
    with pytest.raises(NoFrontalImage):
        backend.predict(StudyInput("1.2.10", ()))
    with pytest.raises(NoFrontalImage):
        backend.answer(StudyInput("1.2.10", ()), "Is the heart enlarged?")


def test_it_raises_model_not_loaded_for_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelNotLoaded, match=r"missing config\.json"):
        HFBackend(tmp_path, "cpu")


def test_it_raises_model_not_loaded_naming_missing_weights(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotLoaded, match=r"missing model\.safetensors"):
        HFBackend(tmp_path, "cpu")


@pytest.mark.parametrize(
    ("config", "weights", "message"),
    [
        ({"model_type": "bert"}, None, r"model_type 'bert'.*AutoModelForImageTextToText"),
        (None, b"not safetensors", r"model not loaded: .*header"),
    ],
    ids=["a text-only architecture", "corrupt weights"],
)
def test_it_raises_model_not_loaded_for_a_checkpoint_it_cannot_use(
    checkpoint: Path,
    tmp_path: Path,
    config: dict[str, str] | None,
    weights: bytes | None,
    message: str,
) -> None:
    broken = shutil.copytree(checkpoint, tmp_path / "broken")
    if config is not None:
        (broken / "config.json").write_text(json.dumps(config))
    if weights is not None:
        (broken / "model.safetensors").write_bytes(weights)
    with pytest.raises(ModelNotLoaded, match=message):
        HFBackend(broken, "cpu")


def test_it_reads_name_and_version_from_a_model_card(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"_name_or_path": "google/medgemma-4b-it"}))
    assert checkpoint_identity(tmp_path)[0] == "google/medgemma-4b-it"
    (tmp_path / "model_card.json").write_text(json.dumps({"name": "medgemma", "version": "1.0"}))
    assert checkpoint_identity(tmp_path) == ("medgemma", "1.0")


def test_it_derives_findings_from_the_text_with_the_labeller() -> None:
    text = "FINDINGS: Large right pleural effusion. Possible pneumothorax. No fracture."
    findings = findings_from_text(text, {Label.PLEURAL_EFFUSION, Label.FRACTURE})
    assert [(f.label, f.confidence, f.is_critical) for f in findings] == [
        (Label.PLEURAL_EFFUSION, 1.0, True),
        (Label.PNEUMOTHORAX, 0.5, False),
    ]
    assert findings_from_text("IMPRESSION: No acute cardiopulmonary disease.", set()) == ()


def test_it_turns_prepared_pixels_into_an_rgb_picture() -> None:
    picture = to_rgb(np.array([[0.0, 1.0], [0.5, 2.0]], dtype=np.float32))
    assert picture.mode == "RGB" and picture.size == (2, 2)
    assert np.asarray(picture)[:, :, 0].tolist() == [[0, 255], [128, 255]]
