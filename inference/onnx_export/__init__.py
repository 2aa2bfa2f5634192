"""Export the reference model's detector to ONNX, quantise it, and prove parity before it
may serve (SPEC section 4, "onnx"). Imports no Django.

What is exported: the vision encoder and the detection head, as one graph ``DetectorGraph``:
``pixels`` (N, 1, S, S) float32 normalised + ``context`` (N, D) float32 pooled prompt
embedding -> ``logits`` (N, 14) raw detection logits (``LABELS`` order) and ``features``
(N, C, h, w), the encoder's feature map the PyTorch decoder turns into image tokens.
Calibration (Platt scaling) is applied outside the graph, as in PyTorch.

What stays in PyTorch, and why: the context embedding (a token-embedding lookup and a mean,
cheap and owned by the LM's embedding table), Grad-CAM (needs gradients, which ONNX Runtime
inference sessions do not give) and report generation (beam search over GPT-2 with a KV
cache; exporting the decoder without one would be slower than PyTorch, and the generated text
has no parity check that could refuse it). So ``model.safetensors`` is copied too.

Precisions: ``detector.onnx`` (FP32) and ``detector.int8.onnx``: dynamic INT8
(``quantize_dynamic``) of the MatMul/Gemm layers only, weights unsigned (U8U8). The
convolutions stay FP32 because dynamic per-tensor ConvInteger has no fast CPU kernel (measured
4-6x slower than FP32 on the tiny model) and SPEC keeps the vision side FP16/FP32; what INT8
speeds up is transformer MatMuls (the ViT encoder) and the head. Unsigned weights because
signed-weight U8S8 saturates on x86 CPUs without VNNI (ONNX Runtime's documented caveat;
measured: max |dp| 2.8e-2 with S8 weights vs 5.7e-4 with U8 on the tiny model, AVX2).

Parity (:func:`check_parity`) compares calibrated probabilities of PyTorch and ONNX Runtime
on an evaluation set, at batch 1 and batch 8 (dynamic quantisation scales activations per
batch, so a study's INT8 result depends on its batch-mates; both extremes are checked):

- FP32 tolerance 1e-4: the two are the same float32 function up to operation order and
  Conv+BatchNorm folding, measured ~1e-7; 1e-4 leaves 1000x headroom for other CPUs'
  kernels while staying 50x below the 0.5 percentage point a reader could notice.
- INT8 tolerance 5e-3: measured 6e-4 to 1.4e-3 (tiny CNN on synthetic discs and on
  phantoms, a tiny ViT); half a percentage point, below the whole percent the workstation
  shows. The tolerance alone is not the guard: every decision at the operating threshold
  (``registry.threshold_for``) must also be identical on every item and
  label, or the variant is refused.

Parity is measured on the CPU provider; the CUDA provider (TF32 off) is not checked here.

The output directory holds ``detector.onnx``, ``detector.int8.onnx``, the source model's
files (``inference.models.checkpoint`` format) and ``onnx_manifest.json``: format, opset,
SHA-256 of every file, and each precision's parity figures with ``passed``. The ``onnx``
backend loads only a precision whose parity passed and whose files still hash as recorded.

Modules: ``runtime`` (the file format, ONNX Runtime sessions, ``read_manifest``), ``parity``,
``export`` (``export_onnx``), ``latency`` (``detection_latency``, a benchmark figure).
"""

from inference.onnx_export.export import DetectorGraph, ExportResult, export_onnx
from inference.onnx_export.latency import detection_latency
from inference.onnx_export.parity import (
    FP32_TOLERANCE,
    INT8_TOLERANCE,
    ParityError,
    ParityItem,
    ParityReport,
    check_parity,
    measure_parity,
    phantom_parity_items,
)
from inference.onnx_export.runtime import (
    DETECTOR_FILES,
    MANIFEST,
    PRECISIONS,
    open_session,
    read_manifest,
    run_detector,
    sha256_of,
)

__all__ = [
    "DETECTOR_FILES",
    "FP32_TOLERANCE",
    "INT8_TOLERANCE",
    "MANIFEST",
    "PRECISIONS",
    "DetectorGraph",
    "ExportResult",
    "ParityError",
    "ParityItem",
    "ParityReport",
    "check_parity",
    "detection_latency",
    "export_onnx",
    "measure_parity",
    "open_session",
    "phantom_parity_items",
    "read_manifest",
    "run_detector",
    "sha256_of",
]
