"""The Django project and the clinical core of the radiology workstation."""

from workstation.celery import app as celery_app

__all__ = ("celery_app",)
