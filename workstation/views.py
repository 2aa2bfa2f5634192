"""Server-rendered pages."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from workstation.accounts.access import study_scope
from workstation.accounts.roles import user_roles
from workstation.studies import selectors


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The landing page: the study list as the current user may see it."""
    can_view = request.user.has_perm("studies.view_study")
    studies = (
        study_scope(user=request.user, queryset=selectors.study_list(filters={}))[:200]
        if can_view
        else []
    )
    return render(
        request,
        "home.html",
        {
            "studies": studies,
            "roles": sorted(role.value for role in user_roles(request.user)),
            "session_idle_seconds": settings.SESSION_COOKIE_AGE,
        },
    )
