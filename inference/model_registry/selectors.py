"""Reading the registry."""

from __future__ import annotations

from inference.model_registry.models import ModelStatus, ModelVersion
from inference.model_registry.weights import base_version


def model_version_get(*, name: str, version: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(name=name, version=version).first()


def model_version_promoted(*, name: str) -> ModelVersion | None:
    """The version of ``name`` that serves, if one was promoted."""
    return ModelVersion.objects.filter(name=name, status=ModelStatus.PROMOTED).first()


def model_version_for_draft(*, model_name: str, model_version: str) -> ModelVersion | None:
    """The registered version a draft's ``model_name`` / ``model_version`` strings name: the
    exact version, else the weights' version without the backend's ``+variant`` suffix."""
    exact = model_version_get(name=model_name, version=model_version)
    if exact is not None:
        return exact
    return model_version_get(name=model_name, version=base_version(model_version))
