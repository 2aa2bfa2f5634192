"""Fixtures of the dashboard tests: the known history (``known.py``) and a tiny encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.workstation.dashboards.history import Case
from tests.workstation.dashboards.known import at, known_history
from workstation.dashboards.metrics.tables import Grouping, MetricsFilter


@pytest.fixture
def dashboard_settings(settings: Any) -> Any:
    settings.DASHBOARD_CACHE_SECONDS = 0
    return settings


@pytest.fixture
def department(reader: Any, attending: Any, dashboard_settings: Any) -> dict[str, Case]:
    return known_history(reader, attending)


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny reference model, untrained: its vision encoder is a fixed random feature map,
    which is all MMD needs (and it takes a second to build, where training takes minutes)."""
    import torch

    from inference.models.checkpoint import ModelCard
    from inference.models.reference import build_reference_model
    from inference.registry import reference_config

    torch.manual_seed(0)
    directory = tmp_path_factory.mktemp("drift-model")
    model = build_reference_model(reference_config("tiny"), ["The lungs are clear."])
    model.save_pretrained(
        directory, ModelCard(name="reference-tiny", version="test-1", training_data="none")
    )
    return directory


def window(group: Grouping = Grouping.DAY, **narrow: str) -> MetricsFilter:
    return MetricsFilter(since=at(0, 0), until=at(2, 0), now=at(2, 0), group=group, **narrow)
