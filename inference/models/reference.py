"""The reference model: LLaVA-style drafting with a detection head. Imports no Django.

Vision encoder -> feature map (batch, C, h, w), pooled to ``side x side`` image tokens ->
2-layer GELU MLP projector into the LM's embedding space -> GPT-2 decoder (built from a
``GPT2Config``, or loaded from a local directory for ``large``), prompted with
``[image tokens][clinical context tokens][SEP]`` and trained to continue with the report.
The detection head reads the pooled image feature plus a pooled embedding of the clinical
context (so "how much the probability changes when the context is removed" is a property of
the head itself, see ``explainability.contribution``). Logit ``i`` is ``LABELS[i]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn import functional as F

from inference.labels import LABELS
from inference.models.calibration import Calibration
from inference.models.config import ReferenceConfig
from inference.models.encoder import build_encoder
from inference.models.tokenizer import ReportTokenizer
from inference.registry import LOSS_WEIGHTS, LossWeights
from inference.types import ClinicalContext, prompt_vocabulary

if TYPE_CHECKING:
    from inference.models.checkpoint import ModelCard

#: The prompt of a study without clinical context; also the "context removed" prompt.
NO_CONTEXT_PROMPT = ClinicalContext().as_prompt()


@dataclass(frozen=True)
class Batch:
    """One training batch.

    pixels: (B, 1, S, S) float32, ``preprocess.normalise``d display pixels.
    labels: (B, 14) float32 in {0, 1}, ``LABELS`` order.
    prompt_ids / report_ids: per item, token ids (no special tokens).
    """

    pixels: torch.Tensor
    labels: torch.Tensor
    prompt_ids: tuple[tuple[int, ...], ...]
    report_ids: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class LossParts:
    """Scalar tensors; ``total`` is the weighted sum that is back-propagated."""

    total: torch.Tensor
    report_nll: torch.Tensor
    detection_bce: torch.Tensor
    projector_l2: torch.Tensor


def build_language_model(config: ReferenceConfig, vocab_size: int) -> Any:
    """A GPT-2 LM head model: from ``config.lm_dir`` when set, else random from a config."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if config.lm_dir:
        lm = GPT2LMHeadModel.from_pretrained(Path(config.lm_dir), local_files_only=True)
        if lm.get_input_embeddings().num_embeddings != vocab_size:
            lm.resize_token_embeddings(vocab_size)
        return lm
    gpt_config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=config.lm_positions,
        n_embd=config.lm_embd,
        n_layer=config.lm_layers,
        n_head=config.lm_heads,
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        bos_token_id=None,
        eos_token_id=None,
    )
    return GPT2LMHeadModel(gpt_config)


class ReferenceModel(nn.Module):
    """See the module docstring. Build with :func:`build_reference_model`."""

    def __init__(self, config: ReferenceConfig, tokenizer: ReportTokenizer) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = tokenizer
        self.targets = LABELS  # torchxrayvision's convention: what each logit means
        self.encoder = build_encoder(config)
        self.lm: Any = build_language_model(config, tokenizer.vocab_size)
        width = int(self.lm.config.n_embd)
        channels = self.encoder.out_channels
        self.pool = nn.AdaptiveAvgPool2d(config.image_tokens_side)
        self.projector = nn.Sequential(
            nn.Linear(channels, width), nn.GELU(), nn.Linear(width, width)
        )
        self.detection_image = nn.Linear(channels, len(LABELS))
        self.detection_context = nn.Linear(width, len(LABELS))
        self.context_norm: nn.Module = (
            nn.LayerNorm(width, elementwise_affine=False) if config.context_norm else nn.Identity()
        )
        nn.init.zeros_(self.detection_context.weight)
        nn.init.zeros_(self.detection_context.bias)
        self.calibration = Calibration.identity()

    # --- pieces -----------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        """(B, 1, S, S) normalised pixels -> feature map (B, C, h, w)."""
        return self.encoder(pixels)

    def image_tokens(self, features: torch.Tensor) -> torch.Tensor:
        """Feature map -> (B, side*side, LM width) projected image tokens."""
        pooled = self.pool(features).flatten(2).transpose(1, 2)
        return self.projector(pooled)

    def embed_ids(self, ids: Sequence[int]) -> torch.Tensor:
        """(len(ids), LM width) input embeddings of token ids."""
        tensor = torch.tensor(list(ids), dtype=torch.long, device=self.device)
        embeddings: torch.Tensor = self.lm.get_input_embeddings()(tensor)
        return embeddings

    def encode_prompt(self, prompt: str) -> tuple[int, ...]:
        return tuple(
            self.tokenizer.encode(prompt or NO_CONTEXT_PROMPT, self.config.max_prompt_tokens)
        )

    def context_embedding(self, prompt_ids: Sequence[Sequence[int]]) -> torch.Tensor:
        """(B, LM width): the mean input embedding of each prompt's tokens, layer-normalised
        when ``config.context_norm`` (what the detection head's context part reads)."""
        fallback = self.encode_prompt(NO_CONTEXT_PROMPT)
        means = torch.stack([self.embed_ids(ids or fallback).mean(0) for ids in prompt_ids])
        normalised: torch.Tensor = self.context_norm(means)
        return normalised

    def detect(self, features: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        """Detection logits (B, 14) from a feature map and a context embedding (or none:
        the logits of the image alone, which Grad-CAM uses; the context term is additive)."""
        logits = self.detection_image(features.mean(dim=(2, 3)))
        if context is not None:
            logits = logits + self.detection_context(context)
        return logits

    def detection_logits(
        self, pixels: torch.Tensor, prompt_ids: Sequence[Sequence[int]] | None = None
    ) -> torch.Tensor:
        """(B, 14) raw logits. ``prompt_ids`` None: image-only logits."""
        context = self.context_embedding(prompt_ids) if prompt_ids is not None else None
        return self.detect(self.encode(pixels), context)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated probabilities (B, 14) in 0..1 from raw logits."""
        return self.calibration.apply(logits)

    # --- persistence (format: inference.models.checkpoint) -----------------------------
    def save_pretrained(self, directory: Path, card: ModelCard | None = None) -> Path:
        """Write config.json, model.safetensors, tokenizer.json, calibration.json and
        model_card.json into ``directory``."""
        from inference.models.checkpoint import ModelCard, save_reference_model

        card = card or ModelCard(name=f"reference-{self.config.size}", version="0")
        return save_reference_model(self, Path(directory), card)

    @classmethod
    def from_pretrained(cls, directory: Path, device: torch.device | None = None) -> ReferenceModel:
        """Load a model directory (eval mode). Raises ``ModelNotLoaded``."""
        from inference.models.checkpoint import load_reference_model

        return load_reference_model(Path(directory), device)[0]

    # --- training -----------------------------------------------------------------------
    def _sequence(
        self, tokens: torch.Tensor, prompt: Sequence[int], report: Sequence[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs (L, width) and targets (L,) of one item: targets only on report + EOS."""
        prefix = [*list(prompt), self.tokenizer.sep_id]
        continuation = [*list(report)[: self.config.max_report_tokens], self.tokenizer.eos_id]
        embeds = torch.cat([tokens, self.embed_ids(prefix), self.embed_ids(continuation)])
        # HF shifts the labels: position t is scored on predicting labels[t + 1], so the SEP
        # predicts the first report token and the last report token predicts EOS.
        ignore = [-100] * (tokens.shape[0] + len(prefix))
        targets = torch.tensor(ignore + continuation, dtype=torch.long, device=self.device)
        return embeds, targets

    def loss(
        self, batch: Batch, weights: LossWeights = LOSS_WEIGHTS, *, report: bool = True
    ) -> LossParts:
        """The weighted loss of one batch. ``report=False`` skips the LM (stage 0)."""
        features = self.encode(batch.pixels)
        context = self.context_embedding(batch.prompt_ids)
        logits = self.detect(features, context)
        bce = F.binary_cross_entropy_with_logits(logits, batch.labels)
        l2 = sum(
            (layer.weight**2).sum() for layer in self.projector if isinstance(layer, nn.Linear)
        )
        l2 = torch.as_tensor(l2, device=self.device)
        nll = torch.zeros((), device=self.device)
        if report:
            tokens = self.image_tokens(features)
            items = [
                self._sequence(tokens[i], p, r)
                for i, (p, r) in enumerate(zip(batch.prompt_ids, batch.report_ids, strict=True))
            ]
            longest = max(e.shape[0] for e, _ in items)
            width = tokens.shape[-1]
            embeds = torch.zeros(len(items), longest, width, device=self.device, dtype=tokens.dtype)
            targets = torch.full((len(items), longest), -100, dtype=torch.long, device=self.device)
            mask = torch.zeros(len(items), longest, dtype=torch.long, device=self.device)
            for i, (e, t) in enumerate(items):
                embeds[i, : e.shape[0]], targets[i, : t.shape[0]], mask[i, : e.shape[0]] = e, t, 1
            nll = self.lm(inputs_embeds=embeds, attention_mask=mask, labels=targets).loss
        total = weights.report_nll * nll + weights.detection_bce * bce + weights.projector_l2 * l2
        return LossParts(total=total, report_nll=nll, detection_bce=bce, projector_l2=l2)

    # --- drafting -----------------------------------------------------------------------
    @torch.no_grad()
    def generate(
        self,
        pixels: torch.Tensor,
        prompt: str,
        *,
        num_beams: int = 4,
        max_new_tokens: int | None = None,
        features: torch.Tensor | None = None,
    ) -> str:
        """Beam-search report text for one image (1, 1, S, S) and its context prompt."""
        features = self.encode(pixels) if features is None else features
        tokens = self.image_tokens(features)[0]
        prefix = torch.cat(
            [tokens, self.embed_ids([*self.encode_prompt(prompt), self.tokenizer.sep_id])]
        )
        budget = self.config.max_report_tokens + 1 if max_new_tokens is None else max_new_tokens
        budget = min(budget, int(self.lm.config.n_positions) - prefix.shape[0])
        output = self.lm.generate(
            inputs_embeds=prefix[None],
            attention_mask=torch.ones(1, prefix.shape[0], dtype=torch.long, device=self.device),
            num_beams=num_beams,
            do_sample=False,
            max_new_tokens=max(budget, 1),
            eos_token_id=self.tokenizer.eos_id,
            pad_token_id=self.tokenizer.pad_id,
        )
        return self.tokenizer.decode(output[0].tolist())


def build_reference_model(config: ReferenceConfig, texts: Sequence[str] = ()) -> ReferenceModel:
    """A fresh model. The tokenizer is the pretrained LM's (``config.lm_dir``/tokenizer.json)
    when there is one, else byte-level BPE trained on ``texts`` (e.g. the IU reports and the
    training prompts) plus :func:`inference.types.prompt_vocabulary`, so the prompt's lab,
    vital and smoking words are tokens of their own (byte-level: no text is ever UNK).

    Raises:
        ValueError: no ``lm_dir`` tokenizer and no ``texts`` to train one.
    """
    if config.lm_dir and (Path(config.lm_dir) / "tokenizer.json").is_file():
        tokenizer = ReportTokenizer.load(Path(config.lm_dir) / "tokenizer.json")
    elif texts:
        tokenizer = ReportTokenizer.train([*texts, *prompt_vocabulary()], config.vocab_size)
    else:
        raise ValueError("no texts to train the report tokenizer on")
    return ReferenceModel(config, tokenizer)
