from django.apps import AppConfig


class ModelRegistryConfig(AppConfig):
    """Labelled ``inference``: ``inference.models`` is the Django-free ML package, so the
    registry's models live in this sub-package rather than in ``inference.models``."""

    name = "inference.model_registry"
    label = "inference"
    verbose_name = "Model registry"
    default_auto_field = "django.db.models.BigAutoField"
