"""Which studies a user may see: the one place per-object scope is decided.

Radiologists and administrators see every study (the worklist scope is the department);
clinicians see the studies they ordered or were assigned to (``StudyAccess``); everyone else
sees none. Role checks (403) come first in the views; this scope turns objects outside it into
404s, so a guessed identifier tells nothing.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from workstation.accounts.roles import Role, user_roles
from workstation.studies.models import Study, StudyAccess


def study_scope(
    *, user: AbstractBaseUser | AnonymousUser, queryset: QuerySet[Study]
) -> QuerySet[Study]:
    """``queryset`` narrowed to the studies ``user`` may see."""
    roles = user_roles(user)
    if Role.ADMIN in roles or Role.RADIOLOGIST in roles:
        return queryset
    if Role.CLINICIAN in roles and user.pk is not None:
        return queryset.filter(access_grants__user_id=user.pk)
    return queryset.none()


def study_is_granted(*, user: AbstractBaseUser | AnonymousUser, study_id: int) -> bool:
    """Whether a clinician holds a ``StudyAccess`` grant for the study."""
    if user.pk is None:
        return False
    return StudyAccess.objects.filter(study_id=study_id, user_id=user.pk).exists()
