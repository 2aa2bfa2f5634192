"""Evaluation of drafting models (SPEC section 4): every model against the template baseline.

An ordered pipeline of small steps: :mod:`cases` (held-out phantoms, MIMIC-CXR or IU X-ray
studies with their truth) -> :mod:`runner` (draft each study with a backend, exactly as the
drafting jobs do) -> :mod:`scoring` (detection, clinical efficacy, text metrics, boxes,
latency, each with a bootstrap interval; :mod:`errors`; subgroup audit) -> :mod:`plots` ->
:mod:`report` (JSON, self-contained HTML, model card). :mod:`baseline` is the rule-based
template baseline. ``manage.py evaluate_model`` is the edge. Imports no Django.
"""
