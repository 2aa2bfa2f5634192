"""The ``hf`` backend: drafting and VQA with any local Hugging Face image-text-to-text
checkpoint (MedGemma, MAIRA-2, CheXagent, LLaVA-Rad style), when the hospital has the weights.

Pipeline per batch: preprocess (the frontal image as an 8-bit RGB picture, the prompt through
the processor's chat template when it has one) -> generate (greedy or beam search, one call
for the batch) -> label (the generated text split into sections and sentences, findings read
from it by the rule labeller). Weights load from a local directory only, never from a hub.

The findings are *text-derived*: the model states them in words, the rule labeller reads them
back. Their confidence is 1.0 (asserted) or 0.5 (hedged), not a calibrated probability, and
they carry no box, heatmap or severity. Imports no Django.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import torch
import transformers
from numpy.typing import NDArray
from PIL import Image
from safetensors import SafetensorError

from inference.backends.base import ModelNotLoaded, NoFrontalImage, StudyInput
from inference.backends.reference import NOT_A_FINDING, sentences_from_text
from inference.device import select_device
from inference.labeller import label_report
from inference.labels import DEFAULT_CRITICAL_LABELS, LABELS, Label, Mention
from inference.types import Draft, Finding

NAME: Final = "hf"
#: Used when the processor does not say what size its vision encoder reads.
DEFAULT_IMAGE_SIZE: Final = 336
#: ``{context}`` is replaced by the study's clinical context (``ClinicalContext.as_prompt``).
DEFAULT_PROMPT: Final = (
    "You are a radiologist. Clinical information: {context}.\n"
    "Describe this frontal chest radiograph. Write the report as two sections, "
    "'FINDINGS:' followed by 'IMPRESSION:'."
)
#: Text-derived confidence by how the text states a label; not a calibrated probability.
TEXT_DERIVED_CONFIDENCE: Final = {Mention.POSITIVE: 1.0, Mention.UNCERTAIN: 0.5}
#: Model classes tried in order, each with the config ``model_type`` it may load (``None``:
#: any, the auto class decides). The first present in this transformers version that knows the
#: checkpoint's config loads it; older versions call image-text-to-text "Vision2Seq". The
#: concrete class is limited to its own type: given another config it would build a default
#: (7B) LLaVA from random weights instead of failing.
MODEL_CLASSES: Final[tuple[tuple[str, frozenset[str] | None], ...]] = (
    ("AutoModelForImageTextToText", None),
    ("AutoModelForVision2Seq", None),
    ("LlavaForConditionalGeneration", frozenset({"llava"})),
)
_WEIGHT_FILES: Final = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_PROCESSOR_FILES: Final = ("processor_config.json", "preprocessor_config.json")


def _require_files(directory: Path) -> None:
    """Raise ``ModelNotLoaded`` naming the first thing a loadable checkpoint lacks."""
    if not (directory / "config.json").is_file():
        raise ModelNotLoaded(f"model not loaded: {directory} missing config.json")
    if not any((directory / name).is_file() for name in _WEIGHT_FILES):
        raise ModelNotLoaded(f"model not loaded: {directory} missing {' or '.join(_WEIGHT_FILES)}")
    if not any((directory / name).is_file() for name in _PROCESSOR_FILES):
        raise ModelNotLoaded(
            f"model not loaded: {directory} missing {' or '.join(_PROCESSOR_FILES)}"
        )


def checkpoint_identity(directory: Path) -> tuple[str, str]:
    """``(model_name, version)`` of a checkpoint directory.

    From ``model_card.json`` (``name``, ``version``) when present; else the name the config
    was saved under (``_name_or_path``, when it is a hub id rather than a path) or the
    directory's name, and the first 12 hex digits of config.json's SHA-256 as the version,
    so a changed checkpoint never passes for the old one.
    """
    raw = (directory / "config.json").read_bytes()
    name, version = directory.resolve().name, hashlib.sha256(raw).hexdigest()[:12]
    try:
        saved_as = str(json.loads(raw).get("_name_or_path") or "")
    except (ValueError, AttributeError):
        saved_as = ""
    if saved_as and not Path(saved_as).is_absolute() and not saved_as.startswith("."):
        name = saved_as
    card = directory / "model_card.json"
    if card.is_file():
        try:
            data = json.loads(card.read_text())
        except (OSError, ValueError) as exc:
            raise ModelNotLoaded(f"model not loaded: {card} unreadable: {exc}") from exc
        if isinstance(data, dict):
            name = str(data.get("name") or name)
            version = str(data.get("version") or version)
    return name, version


def _processor_image_size(processor: Any) -> int:
    """The square side the processor feeds its vision encoder (crop, else resize), else 336."""
    image_processor = getattr(processor, "image_processor", None)
    if image_processor is None:
        return DEFAULT_IMAGE_SIZE
    candidates = []
    if getattr(image_processor, "do_center_crop", False):
        candidates.append(getattr(image_processor, "crop_size", None))
    candidates.append(getattr(image_processor, "size", None))
    for size in candidates:
        if isinstance(size, int):
            return size
        for key in ("height", "shortest_edge", "longest_edge"):
            value = size.get(key) if isinstance(size, dict) else getattr(size, key, None)
            if isinstance(value, int) and value > 0:
                return value
    return DEFAULT_IMAGE_SIZE


def _model_type(directory: Path) -> str:
    try:
        config = json.loads((directory / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelNotLoaded(
            f"model not loaded: {directory} unreadable config.json: {exc}"
        ) from exc
    if not isinstance(config, dict):
        raise ModelNotLoaded(f"model not loaded: {directory} config.json is not an object")
    return str(config.get("model_type", ""))


def _load_model(directory: Path, device: torch.device, trust_remote_code: bool) -> Any:
    model_type = _model_type(directory)
    errors = []
    for class_name, model_types in MODEL_CLASSES:
        model_class = getattr(transformers, class_name, None)
        if model_class is None or (model_types is not None and model_type not in model_types):
            continue
        try:
            model = model_class.from_pretrained(
                directory,
                local_files_only=True,
                dtype="auto",
                trust_remote_code=trust_remote_code,
            ).to(device)
        except (ValueError, KeyError) as exc:  # this class does not know the config
            errors.append(f"{class_name}: {exc}")
            continue
        except (OSError, RuntimeError, SafetensorError) as exc:  # unreadable weights, no memory
            raise ModelNotLoaded(f"model not loaded: {directory}: {exc}") from exc
        return model.eval()
    reasons = "; ".join(errors) or "no image-text-to-text class in this transformers version"
    raise ModelNotLoaded(f"model not loaded: {directory} (model_type {model_type!r}): {reasons}")


def to_rgb(pixels: NDArray[np.float32]) -> Image.Image:
    """A prepared image's pixels ``(rows, cols)`` float 0..1 -> an 8-bit RGB picture."""
    grey = np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")


def findings_from_text(text: str, critical_labels: Iterable[Label]) -> tuple[Finding, ...]:
    """The findings a generated text states, asserted ones first, then in label order.

    Confidence is text-derived (1.0 asserted, 0.5 hedged), not a calibrated probability;
    denied labels and "No Finding" give no finding.
    """
    critical = frozenset(critical_labels)
    mentions = label_report(text)
    findings = [
        Finding(
            label=label,
            confidence=TEXT_DERIVED_CONFIDENCE[mentions[label]],
            is_critical=label in critical,
        )
        for label in LABELS
        if label not in NOT_A_FINDING and mentions.get(label) in TEXT_DERIVED_CONFIDENCE
    ]
    findings.sort(key=lambda f: -f.confidence)
    return tuple(findings)


class HFBackend:
    """Implements ``inference.backends.base.Backend`` for a local transformers
    image-text-to-text checkpoint (processor + model saved with ``save_pretrained``).

    Load once per worker process. Raises ``ModelNotLoaded`` at construction when the
    directory lacks config.json, weights or a processor, or when transformers cannot load it.

    Args:
        prompt_template: the drafting instruction; ``{context}`` in it becomes the clinical
            context (plain replacement, so other braces are kept). ``None``: DEFAULT_PROMPT.
        max_new_tokens, num_beams: generation length and beam width (1: greedy).
        trust_remote_code: run Python shipped inside the checkpoint directory (MAIRA-2 and
            CheXagent need it); only for a directory the hospital controls.
    """

    name = NAME

    def __init__(
        self,
        model_dir: Path | str,
        device: torch.device | str | None = None,
        *,
        critical_labels: Iterable[Label] = DEFAULT_CRITICAL_LABELS,
        prompt_template: str | None = None,
        max_new_tokens: int = 256,
        num_beams: int = 1,
        trust_remote_code: bool = False,
    ) -> None:
        directory = Path(model_dir)
        _require_files(directory)
        self.device = device if isinstance(device, torch.device) else select_device(device)
        self.model_name, self.version = checkpoint_identity(directory)
        try:
            self.processor = transformers.AutoProcessor.from_pretrained(
                directory, local_files_only=True, trust_remote_code=trust_remote_code
            )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelNotLoaded(f"model not loaded: {directory}: processor: {exc}") from exc
        self.model = _load_model(directory, self.device, trust_remote_code)
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None and not self.model.config.is_encoder_decoder:
            tokenizer.padding_side = "left"  # a decoder-only batch must end where generation starts
        self.image_size = _processor_image_size(self.processor)  # prepare_image(ds, size=this)
        self.critical_labels = frozenset(critical_labels)
        self.prompt_template = prompt_template or DEFAULT_PROMPT
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams

    def predict(self, study: StudyInput) -> Draft:
        """Draft one study. Raises ``NoFrontalImage`` when it has no image."""
        return self.predict_batch([study])[0]

    def predict_batch(self, studies: Sequence[StudyInput]) -> list[Draft]:
        """Draft several studies with one ``generate`` call. Raises ``NoFrontalImage``."""
        if not studies:
            return []
        prompts = [self.prompt(study) for study in studies]
        texts, timings = self._generate(studies, prompts)
        drafts = []
        for text in texts:
            started = time.perf_counter()
            findings = findings_from_text(text, self.critical_labels)
            sentences = sentences_from_text(text)
            label_ms = (time.perf_counter() - started) * 1000
            drafts.append(
                Draft(
                    findings=findings,
                    sentences=sentences,
                    model_name=self.model_name,
                    model_version=self.version,
                    timings_ms={**timings, "label": label_ms},
                )
            )
        return drafts

    def answer(self, study: StudyInput, question: str) -> str:
        """The model's free-text answer to ``question`` about the study's frontal image.

        Raises ``NoFrontalImage``, or ``ValueError`` for a blank question.
        """
        if not question.strip():
            raise ValueError("the question is blank")
        instruction = f"Clinical information: {study.context.as_prompt()}.\n{question.strip()}"
        texts, _ = self._generate([study], [self._chat(instruction)])
        return texts[0]

    def prompt(self, study: StudyInput) -> str:
        """The full text prompt the model drafts ``study`` from (image token included)."""
        instruction = self.prompt_template.replace("{context}", study.context.as_prompt())
        if study.report_template.strip():
            instruction += f"\nFollow this report template:\n{study.report_template.strip()}"
        return self._chat(instruction)

    def _chat(self, instruction: str) -> str:
        """The full text prompt for one image: the processor's chat template when it has
        one, else the instruction after the processor's image token (LLaVA's plain form)."""
        if getattr(self.processor, "chat_template", None):
            messages = [
                {
                    "role": "user",
                    "content": [{"type": "image"}, {"type": "text", "text": instruction}],
                }
            ]
            return str(self.processor.apply_chat_template(messages, add_generation_prompt=True))
        image_token = getattr(self.processor, "image_token", None)
        return f"{image_token}\n{instruction}\n" if image_token else instruction

    @torch.no_grad()
    def _generate(
        self, studies: Sequence[StudyInput], prompts: Sequence[str]
    ) -> tuple[list[str], dict[str, float]]:
        """Generated text per study for its full text prompt (prompt removed, special tokens
        skipped) and the per-study time of each stage in milliseconds."""
        for study in studies:
            if not study.images:
                raise NoFrontalImage(f"study {study.study_uid} has no frontal image")
        started = time.perf_counter()
        inputs = self.processor(
            images=[[to_rgb(study.images[0].pixels)] for study in studies],
            text=list(prompts),
            return_tensors="pt",
            padding=True,
        ).to(device=self.device, dtype=self.model.dtype)
        preprocess_ms = (time.perf_counter() - started) * 1000 / len(studies)

        started = time.perf_counter()
        output = self.model.generate(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            num_beams=self.num_beams,
            do_sample=False,
        )
        if not self.model.config.is_encoder_decoder:
            output = output[:, inputs["input_ids"].shape[1] :]
        texts = [
            str(text).strip()
            for text in self.processor.batch_decode(output, skip_special_tokens=True)
        ]
        generate_ms = (time.perf_counter() - started) * 1000 / len(studies)
        return texts, {"preprocess": preprocess_ms, "generate": generate_ms}
